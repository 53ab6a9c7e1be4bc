"""Results of run() calls: turn a return value into append_row bytes (Azure's
format, byte for byte), commit them as one part file per mini-batch, and merge
the part files in mini-batch order into ``append_row_to``.

A part file ``<work_dir>/parts/<index>.part`` is the commit record of a
finished mini-batch: written to a temporary name then renamed (atomic), with a
one-line meta header ``#pjob <items> <succeeded> <failed> <header_len>\\n``
followed by the DataFrame column header (``header_len`` bytes, may be empty)
and the rows. Workers write parts (``pjob.engine.worker``); agents read the
meta of parts left by an interrupted run instead of running them again
(``pjob.engine.agent``); the driver merges (``pjob.local.parallel``).

Nothing here imports pandas: a DataFrame is recognised by duck typing.
"""

from __future__ import annotations

import os
import shutil

PART_SUFFIX = ".part"
_COPY_CHUNK = 1 << 20


class ReturnTypeError(TypeError):
    pass


def is_dataframe(value) -> bool:
    return type(value).__module__.partition(".")[0] == "pandas" and hasattr(value, "to_csv")


def format_returns(result) -> tuple[int, bytes, bytes]:
    """(number of returned elements, column header bytes, row bytes).

    list/tuple (or any sized iterable) -> ``str(item) + "\\n"`` per element;
    DataFrame -> ``to_csv(sep=" ", header=None, index=None)``. None counts as
    zero returns (a short return)."""
    if result is None:
        return 0, b"", b""
    if is_dataframe(result):
        rows = result.to_csv(sep=" ", header=None, index=None)
        header = result.head(0).to_csv(sep=" ", index=None)
        return len(result), header.encode("utf-8"), rows.encode("utf-8")
    if isinstance(result, (list, tuple)):
        return len(result), b"", "".join([f"{item}\n" for item in result]).encode("utf-8")
    if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__iter__"):
        raise ReturnTypeError(
            f"run() must return a list, tuple or pandas DataFrame (one element per succeeded item), "
            f"not {type(result).__name__}"
        )
    items = list(result)
    return len(items), b"", "".join([f"{item}\n" for item in items]).encode("utf-8")


def part_path(parts_dir: str, index: int) -> str:
    return os.path.join(parts_dir, f"{index:08d}{PART_SUFFIX}")


def write_part(parts_dir: str, index: int, items: int, succeeded: int, failed: int, header: bytes, rows: bytes) -> None:
    """Commit one mini-batch's rows: tmp file then rename, so a part is either
    whole or absent whatever gets killed."""
    final = part_path(parts_dir, index)
    tmp = f"{final}.{os.getpid()}.tmp"
    with open(tmp, "wb") as out:
        out.write(b"#pjob %d %d %d %d\n" % (items, succeeded, failed, len(header)) + header + rows)
    os.replace(tmp, final)


def read_meta(path: str) -> tuple[int, int, int]:
    """(items, succeeded, failed) recorded in a part file."""
    with open(path, "rb") as f:
        items, succeeded, failed, _ = _parse_meta(f.readline(), path)
    return items, succeeded, failed


def _parse_meta(line: bytes, path: str) -> tuple[int, int, int, int]:
    fields = line.split()
    if len(fields) != 5 or fields[0] != b"#pjob":
        raise ValueError(f"{path}: not a pjob part file (meta line {line[:60]!r})")
    return int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4])


def committed_indexes(parts_dir: str) -> set[int]:
    """Indexes that have a committed part (temporary files ignored)."""
    try:
        names = os.listdir(parts_dir)
    except FileNotFoundError:
        return set()
    return {int(n[: -len(PART_SUFFIX)]) for n in names if n.endswith(PART_SUFFIX)}


def remove_stale_tmp(parts_dir: str) -> int:
    """Delete half-written parts left by killed workers."""
    removed = 0
    for name in os.listdir(parts_dir) if os.path.isdir(parts_dir) else ():
        if name.endswith(".tmp"):
            os.unlink(os.path.join(parts_dir, name))
            removed += 1
    return removed


def merge(parts_dir: str, count: int, destination: str, *, dataframe_header: bool = False) -> tuple[int, int]:
    """Stream every committed part, in mini-batch order, into ``destination``
    (written to a temporary name then renamed). With ``dataframe_header`` the
    first DataFrame column header found is written once at the top.
    Returns (parts merged, bytes of rows written)."""
    present = sorted(i for i in committed_indexes(parts_dir) if i < count)
    os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
    tmp = f"{destination}.pjob-merge.{os.getpid()}.tmp"
    written = 0
    with open(tmp, "wb") as out:
        if dataframe_header:
            header = _first_header(parts_dir, present)
            out.write(header)
            written += len(header)
        for index in present:
            path = part_path(parts_dir, index)
            with open(path, "rb") as part:
                header_len = _parse_meta(part.readline(), path)[3]
                if header_len:
                    part.seek(header_len, os.SEEK_CUR)
                shutil.copyfileobj(part, out, _COPY_CHUNK)
        written = out.tell()
    os.replace(tmp, destination)
    return len(present), written


def _first_header(parts_dir: str, present: list[int]) -> bytes:
    for index in present:
        path = part_path(parts_dir, index)
        with open(path, "rb") as part:
            header_len = _parse_meta(part.readline(), path)[3]
            if header_len:
                return part.read(header_len)
    return b""
