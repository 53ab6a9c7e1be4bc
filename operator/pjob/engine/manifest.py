"""The persisted plan of a parallel step: ``<work_dir>/manifest.jsonl``, a
header line (kind, items, columns, source, count) followed by one JSON line
per mini-batch descriptor, in index order.

Written once by the driver (``pjob.local.parallel_step``) and reused on resume;
agents keep the raw descriptor lines as bytes and forward a line to a worker
untouched, so no descriptor is parsed or re-encoded on the agent's hot path.
"""

from __future__ import annotations

import json
import json.scanner
import os
from typing import TYPE_CHECKING, Any

from pjob.data import files, minibatch
from pjob.spec import errors

_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # one JSON value, in C
_FILES_KEYS = {"index", "kind", "items", "paths"}  # a files descriptor as ``_line`` writes it

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pjob.engine.task import ParallelTask

FILE_NAME = "manifest.jsonl"
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # one encoder for all lines (json.dumps builds one per call)
_ESCAPE = json.encoder.encode_basestring_ascii  # what _ENCODER uses for strings (ensure_ascii)


def path_in(work_dir: str) -> str:
    return os.path.join(work_dir, FILE_NAME)


def write(plan: minibatch.Plan, path: str, extra: dict[str, Any] | None = None) -> None:
    """Atomically write ``plan`` (tmp file then rename); ``extra`` goes into
    the header. A files plan's lines come straight from its listing."""
    header = {
        "kind": plan.kind,
        "items": plan.items,
        "columns": [list(c) for c in plan.columns],
        "source": plan.source,
        "count": len(plan.mini_batches),
        **(extra or {}),
    }
    tmp = f"{path}.tmp.{os.getpid()}"
    batches = plan.mini_batches
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        if isinstance(batches, files.FileBatches):
            for chunk in _files_lines(batches.paths, batches.per_batch):
                out.write(chunk)
        else:
            out.writelines([_line(mb) for mb in batches])
    os.replace(tmp, path)


def plan_into(task: ParallelTask, path: str, log: Callable[[str], object]) -> minibatch.Plan:
    """Plan ``task``'s input (``pjob.data.plan``; never loads the data), write
    the manifest to ``path`` and log one line. Used by the local driver and by
    agent 0 on a cluster."""
    import time

    import pjob.data

    started = time.time()
    plan = pjob.data.plan(task.input_type, task.input_uri, task.mini_batch_size, task.partition_keys)
    listing = _listing(task, plan)
    # only a table's mini-batches can be estimates: a files plan's are not made one by one here
    estimated = plan.kind == "table" and any(minibatch.items_estimated(mb) for mb in plan.mini_batches)
    extra = {"planned_at": started, "listing": files.digest(listing), "listed": len(listing)}
    if plan.skipped:
        extra["skipped"] = plan.skipped
        log(f"{task.input_uri}: {plan.skipped}")
    if plan.empty_because:
        extra["empty_because"] = plan.empty_because
        log(f"nothing to run from {task.input_uri}: {plan.empty_because}")
    write(plan, path, extra)
    log(
        f"planned {task.input_uri} ({task.input_type}, mini_batch_size={task.mini_batch_size}, "
        f"partition_keys={task.partition_keys}): {len(plan.mini_batches)} mini-batches, {plan.items} items"
        f"{' (estimated from a sample; workers count what they read)' if estimated else ''} in {time.time() - started:.2f}s"
    )
    return plan


def _listing(task: ParallelTask, plan: minibatch.Plan) -> list[str]:
    """The files of the input location as planned (a folder's file plan is its listing)."""
    if plan.kind == "files" and task.input_type in ("uri_folder", "uri_file"):
        if isinstance(plan.mini_batches, files.FileBatches):
            return plan.mini_batches.paths
        return [p for mb in plan.mini_batches for p in mb.paths]
    return files.list_files(task.input_uri)


def input_changes(task: ParallelTask) -> str | None:
    """How the input differs from what the persisted plan was made of: files
    added or removed, or modified after planning (local files); None when it
    is unchanged or there is no plan (or one written before pjob recorded this)."""
    path = path_in(task.work_dir)
    try:
        with open(path, "rb") as f:
            header = json.loads(f.readline())
    except (OSError, ValueError):
        return None
    if "listing" not in header:
        return None
    try:
        now = files.list_files(task.input_uri)
    except errors.UserError:
        return f"{task.input_uri} no longer exists"
    changes = []
    if files.digest(now) != header["listing"]:
        changes.append(f"its files changed ({header.get('listed')} when planned, {len(now)} now)")
    modified = files.modified_after(now, header["planned_at"])
    if modified:
        changes.append(f"{len(modified)} file(s) were modified after planning, e.g. {modified[0]}")
    return "; ".join(changes) or None


def planned_count(work_dir: str) -> int | None:
    """How many mini-batches the step's plan has (its first line only), None before it is planned."""
    try:
        with open(path_in(work_dir), "rb") as f:
            return int(json.loads(f.readline())["count"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_header(path: str) -> dict[str, Any]:
    """The header dict alone (its first line: a plan can have a million lines after it)."""
    with open(path, "rb") as f:
        header = json.loads(f.readline())
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the first line is not a manifest header")
    return header


def read_header_and_lines(path: str) -> tuple[dict[str, Any], list[bytes]]:
    """Header dict and the raw descriptor lines (without newline), index = position."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    header = json.loads(lines[0])
    body = lines[1:]
    if len(body) != header["count"]:
        raise ValueError(f"{path}: header says {header['count']} mini-batches, found {len(body)} (truncated?)")
    return header, body


def read_plan(path: str) -> minibatch.Plan:
    header, lines = read_header_and_lines(path)
    return minibatch.Plan(
        kind=header["kind"],
        items=header.get("items", 0),
        columns=[tuple(c) for c in header.get("columns", [])],
        source=header.get("source", ""),
        mini_batches=[minibatch.MiniBatch.from_dict(json.loads(line)) for line in lines],
    )


def descriptor(line: bytes) -> minibatch.MiniBatch:
    """One descriptor line. A files line as ``_line`` writes it (index, kind,
    items, paths) is parsed by the C scanner and built without
    ``MiniBatch.from_dict``'s copy (a worker reads one per mini-batch; 3x
    cheaper than ``json.loads``); anything else, or a bad line (which raises
    as ``json.loads`` does), takes the general path."""
    try:
        text = line.decode()
        d, end = _SCAN(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError):
        d = None
    else:
        d = None if text[end:].strip() else d  # trailing data: json.loads says what is wrong
    if isinstance(d, dict) and d.keys() == _FILES_KEYS and d["kind"] == "files":
        return minibatch.MiniBatch(d["index"], "files", d["items"], d["paths"])
    return minibatch.MiniBatch.from_dict(json.loads(line))


def trivial_load(line: bytes) -> bool:
    """Loading this mini-batch is instant (local files: the paths are the
    data), so the run() timeout applies from dispatch and the worker sends no
    load-done message. Decided on the raw line by the agent and the worker alike."""
    return line.startswith(b'{"index"') and b'"kind":"files"' in line and b"://" not in line


def _line(mb: minibatch.MiniBatch) -> str:
    """One manifest line. A files mini-batch (``pjob.data.files.plan_files``
    sets only index, kind, items and paths) is formatted directly, ~10x faster
    than the generic encoder and byte-identical to it (tests/unit/engine)."""
    paths = mb.paths
    if (
        mb.kind == "files"
        and paths
        and mb.path is None
        and mb.byte_range is None
        and mb.row_groups is None
        and mb.row_range is None
        and mb.key_values is None
        and mb.table is None
    ):
        listed = _ESCAPE(paths[0]) if len(paths) == 1 else ",".join(map(_ESCAPE, paths))
        return f'{{"index":{mb.index},"kind":"files","items":{mb.items},"paths":[{listed}]}}\n'
    return _ENCODER.encode(_to_dict(mb)) + "\n"


_CHUNK = 1 << 16  # mini-batches per write: bounded memory for any listing


def _files_lines(paths: list[str], per_batch: int) -> Iterator[str]:
    """The lines of ``FileBatches(paths, per_batch)``, a chunk of lines per
    string, byte-identical to ``_line`` of each mini-batch (tests/unit/engine)
    with no ``MiniBatch`` made: each path escaped once, or not at all when
    none needs it (printable ASCII without quote or backslash)."""
    joined = "".join(paths)
    if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
        items, sep, opened, closed = paths, '","', '["', '"]}\n'  # _ESCAPE(p) == '"' + p + '"'
    else:
        items, sep, opened, closed = list(map(_ESCAPE, paths)), ",", "[", "]}\n"
    full, rest = divmod(len(items), per_batch)
    middle = f',"kind":"files","items":{per_batch},"paths":{opened}'
    for first in range(0, full, _CHUNK):
        indexes = range(first, min(full, first + _CHUNK))
        if per_batch == 1:
            yield "".join([f'{{"index":{i}{middle}{items[i]}{closed}' for i in indexes])
        else:
            yield "".join(
                [
                    f'{{"index":{i}{middle}{sep.join(items[i * per_batch : (i + 1) * per_batch])}{closed}'
                    for i in indexes
                ]
            )
    if rest:
        last = sep.join(items[full * per_batch :])
        yield f'{{"index":{full},"kind":"files","items":{rest},"paths":{opened}{last}{closed}'


def _to_dict(mb: minibatch.MiniBatch) -> dict[str, Any]:
    """``MiniBatch.to_dict`` without ``dataclasses.asdict``'s deep copy (same keys and values)."""
    return {k: v for k, v in vars(mb).items() if v is not None and v != []}
