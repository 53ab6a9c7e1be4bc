"""Results of run() calls: turn a return value into append_row bytes (Azure's
format, byte for byte), commit them as one record per mini-batch, and merge
the records in mini-batch order into ``append_row_to``.

Each worker appends one record per finished mini-batch to its own segment
file ``<work_dir>/parts/seg-<time>-<node>-<proc>-<pid>.bin`` (one write, no
file created per mini-batch: creating files is the dominant cost for tiny
mini-batches). A complete record is the commit of that mini-batch's rows; a
torn tail (killed mid-write) is ignored. Agents adopt the records an
interrupted run committed instead of running them again
(``pjob.engine.agent``); the driver merges (``pjob.local.parallel_step``).

Nothing here imports pandas: a DataFrame is recognised by duck typing.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple, TypeGuard

from pjob.engine import fileio

if TYPE_CHECKING:
    import pandas


class ReturnTypeError(TypeError):
    pass


def is_dataframe(value: object) -> TypeGuard[pandas.DataFrame]:
    return type(value).__module__.partition(".")[0] == "pandas" and hasattr(value, "to_csv")


def format_returns(result: object) -> tuple[int, bytes, bytes | memoryview]:
    """(number of returned elements, column header bytes, row bytes: for a
    DataFrame possibly a view of the buffer the rows were written into).

    list/tuple (or any sized iterable) -> ``str(item) + "\\n"`` per element;
    DataFrame -> ``to_csv(sep=" ", header=None, index=None)``. None counts as
    zero returns (a short return)."""
    if result is None:
        return 0, b"", b""
    if is_dataframe(result):
        from pjob.engine import frametext  # numpy column by column; None: pandas' own writer

        rows = frametext.rows_bytes(result)
        if rows is None:
            rows = result.to_csv(sep=" ", header=False, index=False).encode("utf-8")
        header = result.head(0).to_csv(sep=" ", index=False)
        return len(result), header.encode("utf-8"), rows
    if isinstance(result, (list, tuple)):
        return len(result), b"", "".join([f"{item}\n" for item in result]).encode("utf-8")
    if isinstance(result, (str, bytes, dict)) or not isinstance(result, Iterable):
        raise ReturnTypeError(
            f"run() must return a list, tuple or pandas DataFrame (one element per succeeded item), "
            f"not {type(result).__name__}"
        )
    items = list(result)
    return len(items), b"", "".join([f"{item}\n" for item in items]).encode("utf-8")


SEGMENT_PREFIX, SEGMENT_SUFFIX = "seg-", ".bin"


def parts_dir(work_dir: str) -> str:
    """Where a step's workers write their segments: ``<work_dir>/parts``."""
    return os.path.join(work_dir, "parts")


_RECORD = struct.Struct("<4sQIqqqIQ")  # magic, index, attempt, items, succeeded, failed, header_len, rows_len
_MAGIC, _TRAILER = b"PJOB", b"PEND"


class RecordRef(NamedTuple):
    """Where one committed mini-batch's rows are (see ``scan``; a named tuple:
    a merge makes one per mini-batch, and a frozen dataclass took 5x as long)."""

    index: int  # type: ignore[assignment]  # the field hides tuple.index, unused here
    attempt: int
    items: int
    succeeded: int
    failed: int
    path: str
    offset: int  # of the column header; the rows follow it
    header_len: int
    rows_len: int


class SegmentWriter:
    """Append-only commit log of one worker process: one record per finished
    mini-batch (fixed header, column header, rows, trailer), written with one
    ``write`` on an O_APPEND file. A record is committed once its trailer is
    on disk; a worker killed mid-write leaves a torn tail that ``scan``
    ignores. One file per process, so a torn tail is never appended to."""

    def __init__(self, parts_dir: str, node: str, proc: str):
        self.path = os.path.join(
            parts_dir, f"{SEGMENT_PREFIX}{time.time_ns():020d}-{node}-{proc}-{os.getpid()}{SEGMENT_SUFFIX}"
        )
        self.fd = -1

    def commit(
        self, index: int, attempt: int, items: int, succeeded: int, failed: int, header: bytes, rows: bytes | memoryview
    ) -> None:
        if self.fd < 0:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        pieces = (
            _RECORD.pack(_MAGIC, index, attempt, items, succeeded, failed, len(header), len(rows)),
            header,
            rows,
            _TRAILER,
        )
        size = sum(len(p) for p in pieces)
        start = os.lseek(self.fd, 0, os.SEEK_END)
        try:
            done = os.writev(self.fd, pieces)  # one write, no joined copy of the rows
            if done < size:  # cut short (rare for a file): the rest from one joined copy
                view = memoryview(b"".join(pieces))[done:]
                while view:
                    view = view[os.write(self.fd, view) :]
        except OSError as exc:
            # a full disk wrote part of the record: cut it off, so the records this
            # process appends next are not hidden behind a torn one (and the space is freed)
            try:
                os.ftruncate(self.fd, start)
            except OSError:
                pass
            raise OSError(exc.errno, exc.strerror, self.path) from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def segments(parts_dir: str) -> list[str]:
    """Segment files, oldest first (names start with a creation timestamp)."""
    try:
        names = os.listdir(parts_dir)
    except FileNotFoundError:
        return []
    return [
        os.path.join(parts_dir, n) for n in sorted(names) if n.startswith(SEGMENT_PREFIX) and n.endswith(SEGMENT_SUFFIX)
    ]


def _records(path: str, start: int = 0) -> Iterator[RecordRef]:
    """Complete records of one segment from offset ``start``, stopping at a
    torn tail (read through mmap: no copy of the rows, no syscall per record)."""
    size = os.path.getsize(path)
    if size <= start:
        return
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos, head, tail = start, _RECORD.size, len(_TRAILER)
        while pos + head <= size:
            magic, index, attempt, items, ok, bad, header_len, rows_len = _RECORD.unpack_from(mm, pos)
            end = pos + head + header_len + rows_len
            if magic != _MAGIC or end + tail > size or mm[end : end + tail] != _TRAILER:
                return
            yield RecordRef(index, attempt, items, ok, bad, path, pos + head, header_len, rows_len)
            pos = end + tail


class Scanner:
    """The committed record of every mini-batch that has one, read a little
    at a time: each ``advance`` reads only the records committed since the
    one before (the driver calls it while the step runs, so its merge starts
    with the scan done). When a mini-batch was committed twice (a worker
    killed between its write and its report, then retried), the highest
    attempt wins, then the newest segment (names sort by creation), then the
    later record: every record is one whole run() result, so any gives
    exactly-once rows, and the choice does not depend on when ``advance`` ran."""

    def __init__(self, parts_dir: str):
        self.parts_dir = parts_dir
        self.best: dict[int, RecordRef] = {}
        self._read_to: dict[str, int] = {}  # segment -> offset after its last complete record read

    def advance(self) -> dict[int, RecordRef]:
        best = self.best
        for path in segments(self.parts_dir):
            end = self._read_to.get(path, 0)
            for ref in _records(path, end):
                old = best.get(ref.index)
                if old is None or (ref.attempt, ref.path) >= (old.attempt, old.path):
                    best[ref.index] = ref
                end = ref.offset + ref.header_len + ref.rows_len + len(_TRAILER)
            self._read_to[path] = end
        return best


def scan(parts_dir: str) -> dict[int, RecordRef]:
    """Every committed record at once (``Scanner``'s rule)."""
    return Scanner(parts_dir).advance()


def committed_indexes(parts_dir: str) -> set[int]:
    return set(scan(parts_dir))


def drop(parts_dir: str, indexes: set[int]) -> None:
    """Forget the records of ``indexes`` (``--retry-failed``): rewrite the
    kept records into one new segment, then delete the old ones. Killed
    midway, the old segments still hold the same records: nothing is lost."""
    old = segments(parts_dir)
    if not old or not indexes:
        return
    keep = scan(parts_dir)
    writer = SegmentWriter(parts_dir, "compact", "driver")
    for index in sorted(keep):
        if index in indexes:
            continue
        ref = keep[index]
        header, rows = _read_payload(ref)
        writer.commit(ref.index, ref.attempt, ref.items, ref.succeeded, ref.failed, header, rows)
    writer.close()
    for path in old:
        os.unlink(path)


def _read_payload(ref: RecordRef) -> tuple[bytes, bytes]:
    with open(ref.path, "rb") as f:
        f.seek(ref.offset)
        return f.read(ref.header_len), f.read(ref.rows_len)


_RELEASE_EVERY = 64 << 20
_GATHER = 512  # row slices per writev (Linux takes up to 1024)


def _write_all(fd: int, views: list[memoryview]) -> None:
    """Write ``views`` in order with ``writev`` (no copy of the rows), going
    on after a short write; empties the list."""
    first = 0
    while first < len(views):
        done = os.writev(fd, views[first:] if first else views)
        while first < len(views) and done >= len(views[first]):
            done -= len(views[first])
            first += 1
        if done:  # a short write ended inside this slice
            views[first] = views[first][done:]
    views.clear()


def _release(maps: Iterable[mmap.mmap]) -> int:
    """Drop the pages of ``maps`` from this process (they stay in the page
    cache): a merge of a 1 GB output would otherwise end with 1 GB resident."""
    for mm in maps:
        if hasattr(mmap, "MADV_DONTNEED") and len(mm):
            mm.madvise(mmap.MADV_DONTNEED)
    return 0


def merge(
    parts_dir: str,
    count: int,
    destination: str,
    *,
    dataframe_header: bool = False,
    staging_dir: str | None = None,
    scanner: Scanner | None = None,
) -> tuple[int, int]:
    """Stream every committed record, in mini-batch order, into
    ``destination``: written under a staging name (in ``staging_dir``, by
    default ``<parts_dir>/../staging``, so no half-written file ever sits
    where readers of the output look), then renamed. Staging files a killed
    merge left are removed first; a failed merge removes its own. With
    ``dataframe_header`` the first DataFrame column header is written once at
    the top. ``scanner``: one advanced while the step ran (the merge then
    reads only the records committed since). Returns (mini-batches merged,
    bytes written)."""
    staging_dir = staging_dir or os.path.join(os.path.dirname(os.path.abspath(parts_dir)), "staging")
    fileio.remove_staged(destination, staging_dir)
    refs = (scanner or Scanner(parts_dir)).advance()
    present = sorted(i for i in refs if i < count)
    tmp = fileio.staging_path(destination, staging_dir, "merge")
    maps: dict[str, mmap.mmap] = {}
    views: dict[str, memoryview] = {}
    pending: list[memoryview] = []  # row slices not yet written: one writev per _GATHER of them
    copied = 0
    try:
        with open(tmp, "wb") as out:
            fd = out.fileno()
            if dataframe_header:
                first = next((refs[i] for i in present if refs[i].header_len), None)
                if first is not None:
                    _write_all(fd, [memoryview(_read_payload(first)[0])])
            for index in present:
                ref = refs[index]
                view = views.get(ref.path)
                if view is None:
                    with open(ref.path, "rb") as f:
                        mm = maps[ref.path] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    view = views[ref.path] = memoryview(mm)
                start = ref.offset + ref.header_len
                pending.append(view[start : start + ref.rows_len])  # a view: no copy, whatever its size
                copied += ref.rows_len
                if len(pending) >= _GATHER or copied >= _RELEASE_EVERY:
                    _write_all(fd, pending)
                    if copied >= _RELEASE_EVERY:  # pages read so far stay mapped (resident) until released
                        copied = _release(maps.values())
            _write_all(fd, pending)
            written = os.lseek(fd, 0, os.SEEK_CUR)
        os.replace(tmp, destination)
    except BaseException as exc:
        fileio.discard(tmp)  # e.g. a full disk: do not keep it full with half an output
        if isinstance(exc, OSError) and not exc.filename:  # a failed write names no file
            raise OSError(exc.errno, exc.strerror, destination) from None
        raise
    finally:
        pending.clear()  # slices of the maps: released before the maps can close
        for view in views.values():
            view.release()
        for mm in maps.values():
            mm.close()
    return len(present), written
