"""``extract_columns_from_partition_format``: turn folder names into columns.

Called by ``pjob.data.mltable_steps`` (validation), ``pjob.data.transforms`` (adding
the columns to a slice) and ``pjob.data.partition`` (planning by partition
keys from folder names alone). Pure except that ``values_for`` returns
typed Python values.

A format such as ``/{Country}/{PartitionDate:yyyy/MM/dd}/`` is matched against
the end of a file's path (its folders; the file name may follow). ``{Col}``
matches one folder name and gives a string column; ``{Col:<date format>}``
(tokens ``yyyy MM dd HH mm ss``) gives a datetime column. ``{*}`` matches a
folder and is not kept.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from pjob.spec import errors

_PART = re.compile(r"\{([^{}:]+)(?::([^{}]+))?\}")
_DATE_TOKENS = {"yyyy": r"\d{4}", "MM": r"\d{2}", "dd": r"\d{2}", "HH": r"\d{2}", "mm": r"\d{2}", "ss": r"\d{2}"}
_STRPTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def compile_format(
    fmt: str, fail: Callable[[str], errors.UserError] | None = None
) -> tuple[re.Pattern[str], list[tuple[str, str | None]]]:
    """``(regex, [(column, date_format | None), ...])`` for a partition format."""
    pattern: list[str] = []
    columns: list[tuple[str, str | None]] = []
    pos = 0
    body = fmt.strip().strip("/")
    for match in _PART.finditer(body):
        pattern.append(re.escape(body[pos : match.start()]))
        name, date_fmt = match.group(1).strip(), match.group(2)
        if name == "*":
            pattern.append(r"[^/]+")
        elif date_fmt:
            pattern.append(f"(?P<c{len(columns)}>" + _date_regex(date_fmt) + ")")
            columns.append((name, date_fmt))
        else:
            pattern.append(f"(?P<c{len(columns)}>[^/]+)")
            columns.append((name, None))
        pos = match.end()
    pattern.append(re.escape(body[pos:]))
    if not columns:
        message = f"partition_format '{fmt}' names no column; write e.g. '/{{Country}}/{{Date:yyyy/MM/dd}}/'"
        if fail:
            raise fail(message)
        raise errors.UserError(message, field="extract_columns_from_partition_format")
    return re.compile(r"(?:^|/)" + "".join(pattern) + r"(?:/[^/]*)?$"), columns


def _date_regex(date_fmt: str) -> str:
    out, i = [], 0
    while i < len(date_fmt):
        for token, rx in _DATE_TOKENS.items():
            if date_fmt.startswith(token, i):
                out.append(rx)
                i += len(token)
                break
        else:
            out.append(re.escape(date_fmt[i]))
            i += 1
    return "".join(out)


def _parse_date(text: str, date_fmt: str) -> datetime.datetime:
    py = date_fmt
    for token, code in _STRPTIME.items():
        py = py.replace(token, code)
    return datetime.datetime.strptime(text, py)


def values_for(path: str, fmt: str) -> dict[str, Any]:
    """Column values the format extracts from one file path (None when it does not match)."""
    regex, columns = compile_format(fmt)
    match = regex.search(path.replace("\\", "/"))
    out: dict[str, Any] = {}
    for i, (name, date_fmt) in enumerate(columns):
        text = match.group(f"c{i}") if match else None
        out[name] = None if text is None else (_parse_date(text, date_fmt) if date_fmt else text)
    return out


def column_families(fmt: str) -> list[tuple[str, str]]:
    _, columns = compile_format(fmt)
    return [(name, "datetime" if date_fmt else "string") for name, date_fmt in columns]
