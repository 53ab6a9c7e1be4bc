"""Cutting one table file into mini-batch slices without loading it: CSV and
JSON-lines files into line-aligned byte ranges (seeking; with
``support_multi_line`` streaming once to stay outside quoted fields), Parquet
files into row groups and row ranges. No byte range is empty: one holding
only the header line or blank lines joins its neighbour.

Called by ``pjob.data.tables`` (planning) and ``pjob.data.partition`` (scan chunks).
"""

from __future__ import annotations

import math
from typing import Any

from pjob.data import csvtext, mltable, parquet, readers, readfail


def slice_file(
    table: mltable.Table, path: str, target: int, row_bytes: float = 0.0, *, skip_header: bool = False
) -> list[dict[str, Any]]:
    """Locators (``byte_range`` or ``row_groups``/``row_range`` plus ``items``) of one file.
    Rows of a byte range are estimated from the sample's bytes per row (-1 when unknown;
    ``minibatch.items_estimated``). No byte range is empty: one holding only the header
    line (``skip_header``) or blank lines joins its neighbour, and a file with no record
    past its header has none."""
    reader = table.reader or {}
    if reader["name"] == "read_parquet":
        return _slice_parquet(path, target)
    size = readers.file_size(path)
    if size == 0:
        return []
    with readfail.reading(path), readers.open_binary(path) as fh:
        if reader.get("encoding") == "utf-16":
            if reader.get("support_multi_line") or fh.read(2) == b"\xfe\xff":
                # quoted line breaks, or big-endian (rare): one slice (pieces after the first decode as LE)
                return [{"byte_range": (0, size), "items": _estimate(size, row_bytes)}]
            cuts = csvtext.line_boundaries(fh, 0, size, target, utf16le=True)
        elif reader.get("support_multi_line"):
            cuts = csvtext.quoted_line_boundaries(fh, 0, size, target)
        else:
            cuts = csvtext.line_boundaries(fh, 0, size, target)
        ranges = _without_empty_ranges(fh, cuts, size, reader, skip_header)
    return [{"byte_range": (start, end), "items": _estimate(end - start, row_bytes)} for start, end in ranges]


def skips_header(reader: dict[str, Any], path: str, paths: list[str]) -> bool:
    """Whether the first record of this delimited file is a header line, not data."""
    if reader.get("name") != "read_delimited":
        return False
    mode = reader["header"]
    return mode in ("all_files_same_headers", "all_files_different_headers") or (
        mode == "from_first_file" and path == paths[0]
    )


def _without_empty_ranges(
    fh, cuts: list[int], size: int, reader: dict[str, Any], skip_header: bool
) -> list[tuple[int, int]]:
    """The ranges ``[cut, next cut)``, each joined with its neighbour when it holds
    no record: the first when it is only the header line (and blank lines), any
    other when it is only blank lines. Reads the head of each range (usually one
    small read; never the data of a range that starts with a record)."""
    ranges = [(start, end) for start, end in zip(cuts, cuts[1:] + [size]) if end > start]
    kept: list[tuple[int, int]] = []
    carry = None  # the start of leading ranges with no record, joined to the next one that has one
    for start, end in ranges:
        first = start == 0 and skip_header
        if not _holds_a_record(fh, start, end, reader, first):
            if kept:
                kept[-1] = (kept[-1][0], end)
            elif carry is None:
                carry = start
            continue
        kept.append((start if carry is None else carry, end))
        carry = None
    return kept


def _holds_a_record(fh, start: int, end: int, reader: dict[str, Any], skip_first: bool) -> bool:
    """Whether ``[start, end)`` holds a record (past the header line when ``skip_first``)."""
    encoding = reader.get("encoding") or "utf-8"
    if encoding == "utf-16" and start > 0:
        encoding = "utf-16-le"  # as readers.decode: only little-endian files are cut
    limit = 1 << 16
    while True:
        stop = min(end, start + limit)
        fh.seek(start)
        data = fh.read(stop - start)
        if start == 0 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        text = data.decode(encoding, errors="replace")  # only asks whether a record starts here
        if reader["name"] == "read_json_lines":
            found = sum(1 for line in text.split("\n") if line.strip())
        else:
            found = len(csvtext.records(text, reader["delimiter"], reader["support_multi_line"]))
        if found > (1 if skip_first else 0):
            return True  # a record starts before ``end`` (when cut short, maybe only its beginning)
        if stop >= end:
            return False
        limit *= 4


def _estimate(size: int, row_bytes: float) -> int:
    return max(1, round(size / row_bytes)) if row_bytes > 0 else -1


def _slice_parquet(path: str, target: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    group: list[int] = []
    rows = size = 0
    for i, (group_rows, group_bytes) in enumerate(parquet.parquet_row_groups(path)):
        if group_bytes > target and group_rows > 1:
            if group:
                out.append({"row_groups": group, "items": rows})
                group, rows, size = [], 0, 0
            parts = min(group_rows, math.ceil(group_bytes / target))
            edges = [round(k * group_rows / parts) for k in range(parts + 1)]
            out.extend(
                {"row_groups": [i], "row_range": (a, b), "items": b - a} for a, b in zip(edges, edges[1:]) if b > a
            )
            continue
        group.append(i)
        rows += group_rows
        size += group_bytes
        if size >= target:
            out.append({"row_groups": group, "items": rows})
            group, rows, size = [], 0, 0
    if group:
        out.append({"row_groups": group, "items": rows})
    if not out:  # a file with no row groups still has a schema: one empty slice
        out.append({"row_groups": [], "items": 0})
    return out
