"""Delimited text, the way Azure's MLTable reader splits it: records and
fields from text, and line-aligned byte boundaries inside a file.

Called by ``pjob.data.readers`` (records of one slice) and
``pjob.data.tables`` (planning byte ranges). Pure and pandas-free.

Two record modes, matching ``read_delimited.support_multi_line``:
- ``False`` (Azure's default): every line break ends a record, even inside
  quotes. A field whose opening quote is not closed on its line keeps the
  quote as text (Azure reads ``A2,"B`` / ``2",C2`` as ``["A2", "\\"B"]`` and
  ``["2\\"", "C2"]``). Because records never span lines, a byte range can
  start at any line start.
- ``True``: quoted fields may hold line breaks (RFC 4180). A line start is a
  record start only when an even number of quote characters precede it, so
  boundaries are found by streaming the file and counting quotes.

Empty lines are skipped in both modes (as Azure does); in single-line mode a
blank CRLF line becomes a row of nulls, again as Azure does.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

QUOTE = '"'
_CHUNK = 4 << 20


def records(text: str, delimiter: str, multi_line: bool) -> list[list[str]]:
    """Split ``text`` into records of fields (strings, quotes removed)."""
    if not text:
        return []
    if multi_line:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=QUOTE, strict=False)
        return [row for row in reader if row]
    if line_mode_candidate(text):
        # the C reader, kept only if no record spanned a line break (then each record is one line)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=QUOTE, strict=False)
        rows = [row for row in reader if row]
        if not any("\n" in field for row in rows for field in row):
            return rows
    out: list[list[str]] = []
    for line in text.split("\n"):
        if not line:
            continue  # an empty line is skipped, but a lone "\r" (CRLF blank line) is a row of nulls, as in Azure
        if line.endswith("\r"):
            line = line[:-1]
        out.append(line.split(delimiter) if QUOTE not in line else _line_fields(line, delimiter))
    return out


def crlf_only(text: str) -> bool:
    """CR appears only in CRLF line ends, and no blank CRLF line (Azure reads one as a row of nulls)."""
    return "\r" not in text or (
        text.count("\r") == text.count("\r\n") and "\n\r\n" not in text and not text.startswith("\r\n")
    )


def line_mode_candidate(text: str) -> bool:
    """Single-line mode may use a standard CSV reader on ``text`` when CR only ends
    lines and the last line (which no later line break could expose) has no quote;
    the caller must still reject the result if a field holds a line break."""
    return crlf_only(text) and QUOTE not in text[text.rfind("\n") + 1 :]


def _line_fields(line: str, delimiter: str) -> list[str]:
    if "\r" not in line:
        try:  # strict: an unclosed or misplaced quote raises, and Azure's rule applies instead
            return next(csv.reader([line], delimiter=delimiter, quotechar=QUOTE, strict=True))
        except csv.Error:
            pass
    return parse_line(line, delimiter)


def parse_line(line: str, delimiter: str) -> list[str]:
    """Fields of one physical line; an opening quote never closed on the line
    keeps the rest of the line as text, quote included (as Azure does)."""
    fields: list[str] = []
    current: list[str] = []
    in_quotes = False
    at_field_start = True
    opened_at = 0
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if in_quotes:
            if ch == QUOTE:
                if i + 1 < n and line[i + 1] == QUOTE:
                    current.append(QUOTE)
                    i += 1
                else:
                    in_quotes = False
            else:
                current.append(ch)
        elif ch == delimiter:
            fields.append("".join(current))
            current, at_field_start = [], True
            i += 1
            continue
        elif ch == QUOTE and at_field_start:
            in_quotes, opened_at = True, i
        else:
            current.append(ch)
        at_field_start = False
        i += 1
    fields.append(line[opened_at:] if in_quotes else "".join(current))
    return fields


def first_line(fh: BinaryIO, start: int = 0, limit: int = 1 << 20) -> tuple[bytes, int]:
    """The bytes of the line beginning at ``start`` (without the line break),
    and the offset just after it."""
    fh.seek(start)
    buf = b""
    while True:
        chunk = fh.read(64 << 10)
        if not chunk:
            return buf, start + len(buf)
        nl = chunk.find(b"\n")
        if nl >= 0:
            line = buf + chunk[:nl]
            return line, start + len(line) + 1
        buf += chunk
        if len(buf) > limit * 64:  # a single "line" of 64 MiB: give up looking
            return buf, start + len(buf)


def next_line_start(fh: BinaryIO, offset: int, size: int) -> int:
    """The first line start at or after ``offset`` (``size`` if none)."""
    if offset <= 0:
        return 0
    fh.seek(offset - 1)
    while True:
        chunk = fh.read(64 << 10)
        if not chunk:
            return size
        nl = chunk.find(b"\n")
        if nl >= 0:
            return offset + nl
        offset += len(chunk)


def next_utf16le_line_start(fh: BinaryIO, offset: int, size: int) -> int:
    """``next_line_start`` for UTF-16-LE text: a line starts after a ``\n``
    code unit, the two bytes ``0a 00`` at an even offset (the same bytes at an
    odd offset are halves of two other characters)."""
    offset += offset % 2
    if offset <= 0:
        return 0
    fh.seek(offset - 2)
    pos = offset - 2  # even, and every chunk has an even length: chunk index parity = file offset parity
    while True:
        chunk = fh.read(64 << 10)
        if not chunk:
            return size
        i = chunk.find(b"\n\x00")
        while i >= 0 and i % 2:
            i = chunk.find(b"\n\x00", i + 1)
        if i >= 0:
            return pos + i + 2
        pos += len(chunk)


def line_boundaries(fh: BinaryIO, start: int, size: int, target: int, utf16le: bool = False) -> list[int]:
    """Line-aligned cut points after ``start``: roughly every ``target`` bytes,
    seeking (never reading the whole file). Returns the starts of the ranges.
    ``utf16le``: the text is UTF-16 little-endian (two-byte line breaks)."""
    find = next_utf16le_line_start if utf16le else next_line_start
    cuts = [start]
    while True:
        want = cuts[-1] + target
        if want >= size:
            return cuts
        cut = find(fh, want, size)
        if cut >= size:
            return cuts
        cuts.append(cut)


def quoted_line_boundaries(fh: BinaryIO, start: int, size: int, target: int) -> list[int]:
    """Like ``line_boundaries`` but only at line starts outside quoted fields:
    streams the file once in 4 MiB chunks counting quote characters."""
    cuts = [start]
    fh.seek(start)
    pos = start  # file offset of the current chunk
    quotes = 0  # quote characters between ``start`` and ``pos``
    want = start + target
    for chunk in _chunks(fh):
        end = pos + len(chunk)
        i = 0  # chunk index up to which ``seen`` counts quotes
        seen = quotes
        while want < end:
            nl = chunk.find(b"\n", max(want - 1 - pos, i))
            if nl < 0:
                break
            seen += chunk.count(b'"', i, nl)
            i = nl + 1
            cut = pos + nl + 1
            if seen % 2 == 0 and cut < size:
                cuts.append(cut)
                want = cut + target
            elif seen % 2 == 0:
                return cuts
            else:
                want = cut  # inside quotes: try the next line break
        quotes += chunk.count(b'"')
        pos = end
    return cuts


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            return
        yield chunk
