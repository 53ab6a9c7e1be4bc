"""Parse ``mini_batch_size`` the way Azure ML does.

Called by ``pjob.data.plan`` (and usable by spec validation). The value is a
string matching ``^\\d+([kKmMgG][bB])?$`` (an int is accepted too, as the SDK
allows). For file inputs a plain number is files per mini-batch; for tabular
inputs the value is approximate bytes per mini-batch, ``kb/mb/gb`` multiplying
by 1024^n. A plain number for a table is bytes too: Azure's own reference says
"For TabularDataset, this is the size of the records in bytes" (batch
deployment ``MiniBatchSize``), so ``"100"`` on an MLTable means ~100 bytes.

Defaults when unset (v1 ParallelRunConfig client defaults): 10 files, 1 MiB.
"""

from __future__ import annotations

import re

from pjob.spec import errors

DEFAULT_FILES = 10
DEFAULT_TABLE_BYTES = 1024 * 1024

_SIZE = re.compile(r"^(\d+)([kKmMgG][bB])?$")
_UNIT = {"k": 1024, "m": 1024**2, "g": 1024**3}


def parse(value: str | int) -> tuple[int, bool]:
    """``(number, has_unit)``: ``"10"`` -> (10, False); ``"2kb"`` -> (2048, True)."""
    if isinstance(value, bool):
        raise _bad(value)
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise _bad(value)
    match = _SIZE.match(value.strip())
    if not match:
        raise _bad(value)
    number = int(match.group(1))
    if number < 1:
        raise _bad(value, "it must be at least 1")
    unit = match.group(2)
    if unit:
        return number * _UNIT[unit[0].lower()], True
    return number, False


def files_per_batch(value: str | int | None) -> int:
    """Files per mini-batch for a file input."""
    if value is None:
        return DEFAULT_FILES
    number, has_unit = parse(value)
    if has_unit:
        raise errors.UserError(
            f"mini_batch_size '{value}' is a byte size, but this input is a list of files; "
            'give a plain number of files per mini-batch (e.g. "10")',
            field="mini_batch_size",
        )
    return number


def table_bytes(value: str | int | None) -> int:
    """Approximate bytes per mini-batch for a tabular input."""
    if value is None:
        return DEFAULT_TABLE_BYTES
    return parse(value)[0]


def _bad(value: object, why: str = "") -> errors.UserError:
    reason = f" ({why})" if why else ""
    return errors.UserError(
        f'mini_batch_size {value!r} is not valid{reason}; write a number of files ("10") '
        'or an approximate size per mini-batch for tables ("512kb", "10mb", "1gb")',
        field="mini_batch_size",
    )
