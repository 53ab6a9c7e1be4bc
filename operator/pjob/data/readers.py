"""Read one slice of one file into a DataFrame with the table's schema:
delimited text (a byte range) or JSON lines (a byte range); Parquet (row
groups, optionally a row range inside them) is ``pjob.data.parquet``'s.

Called by ``pjob.data.tables`` for mini-batch reads, whole-table reads and
schema sampling. The ``schema`` passed in is the list of ``[name, family]``
decided at planning time, so every slice of a table gets the same columns in
the same order with the same dtypes; a column a slice does not have is all
null, and a column the plan never saw is appended (never dropped).

Delimited text goes through Arrow's C++ CSV reader when it provably splits
the slice like ``pjob.data.csvtext.records`` (same width on every record, CR
only in CRLF, and in single-line mode no record spanning a line break);
otherwise through the Python reader. A property test holds the two equal.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from pjob.data import csvtext, inference, readfail, uris
from pjob.spec import errors


@readfail.names_file
def open_binary(path: str):
    if uris.is_local(path):
        return open(path, "rb")
    fs, inner = uris.filesystem(path)
    return fs.open(inner, "rb")


@readfail.names_file
def file_size(path: str) -> int:
    if uris.is_local(path):
        return os.path.getsize(path)
    fs, inner = uris.filesystem(path)
    return int(fs.size(inner))


@readfail.names_file
def read_bytes(path: str, start: int, end: int | None) -> bytes:
    with open_binary(path) as fh:
        fh.seek(start)
        return fh.read() if end is None else fh.read(max(0, end - start))


def decode(data: bytes, encoding: str, at_file_start: bool) -> str:
    if at_file_start and encoding == "utf-8" and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if encoding == "utf-16" and not at_file_start:
        encoding = "utf-16-le"  # only little-endian files are sliced (tables.slice_file); no BOM past byte 0
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise errors.UserError(
            f"cannot decode the data as {encoding}: {exc.reason} at byte {exc.start}; set read_delimited.encoding to the file's encoding",
            field="transformations.read_delimited.encoding",
        ) from None


# --- delimited ----------------------------------------------------------------------------
@readfail.names_file
def header_of(path: str, opts: dict[str, Any]) -> list[str]:
    """The column names in the first record of a delimited file."""
    with open_binary(path) as fh:
        data = b""
        limit = 1 << 16
        while True:
            fh.seek(0)
            data = fh.read(limit)
            text = decode_prefix(data, opts["encoding"])
            rows = csvtext.records(text, opts["delimiter"], opts["support_multi_line"])
            complete = len(rows) > 1 or len(data) < limit
            if complete or limit > 1 << 26:
                return [name.strip() if isinstance(name, str) else name for name in rows[0]] if rows else []
            limit *= 4


def decode_prefix(data: bytes, encoding: str) -> str:
    """Decode a prefix that may end inside a multi-byte character."""
    for cut in range(4):
        try:
            return decode(data[: len(data) - cut] if cut else data, encoding, True)
        except errors.UserError:
            continue
    return decode(data, encoding, True)


@readfail.names_file
def delimited_frame(
    path: str,
    start: int,
    end: int | None,
    opts: dict[str, Any],
    header: list[str],
    skip_header: bool,
    schema: list[list[str]],
    only: list[str] | None = None,
):
    """DataFrame of the records in ``[start, end)`` whose field i is called ``header[i]``."""
    lean_allocators()
    data = read_bytes(path, start, end)
    text = decode(data, opts["encoding"], start == 0)
    utf8 = _utf8_view(data, opts["encoding"], start == 0)
    del data
    columns, n_rows = _arrow_columns(text, opts, skip_header, utf8) or _python_columns(text, opts, skip_header)
    del text, utf8
    return _frame(columns, n_rows, header, schema, opts, path, only)


def _utf8_view(data: bytes, encoding: str, at_file_start: bool):
    """The UTF-8 bytes of ``decode(data, ...)``'s text without encoding it
    again (a 10 MB copy): ``data`` itself (a view past the BOM ``decode``
    drops) when the encoding is UTF-8 or ASCII, whose text encodes back to
    the very bytes it was decoded from; None for any other encoding."""
    if encoding not in ("utf8", "utf-8", "ascii"):
        return None
    if at_file_start and encoding == "utf-8" and data.startswith(b"\xef\xbb\xbf"):
        return memoryview(data)[3:]
    return data


_LEAN: list[bool] = []


def lean_allocators() -> None:
    """Once per process that reads tables (a worker): Arrow allocates from the
    system allocator instead of its own pool (mimalloc keeps what a mini-batch
    freed), unless ``ARROW_DEFAULT_MEMORY_POOL`` says otherwise, and glibc's
    malloc hands blocks of 4 MiB and more straight back to the system when
    freed (its default threshold grows to 32 MiB, after which a mini-batch's
    buffers stay in the heap). A worker reading 10 MB mini-batches of the
    bench CSV: peak 247 -> 176 MB resident, 193 -> 139 MB between mini-batches
    with 256 KiB; 4 MiB keeps a column's buffers in the heap for the next
    mini-batch instead of faulting in fresh pages each time (the 1 GB job:
    CPU 29-30 -> 23-26 s, kernel time 14-15 -> 8.5-10 s; peak of all pjob
    processes ~330 -> ~360 MB)."""
    if _LEAN:
        return
    _LEAN.append(True)
    import pyarrow

    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return
        import ctypes

        ctypes.CDLL(None).mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD
    except (ValueError, OSError, AttributeError):  # not glibc: its allocator as it is
        pass


def _python_columns(text: str, opts: dict[str, Any], skip_header: bool) -> tuple[list, int]:
    rows = csvtext.records(text, opts["delimiter"], opts["support_multi_line"])
    if skip_header and rows:
        rows = rows[1:]
    width = max((len(r) for r in rows), default=0)
    return [[r[i] if i < len(r) else None for r in rows] for i in range(width)], len(rows)


def _arrow_columns(text: str, opts: dict[str, Any], skip_header: bool, utf8=None) -> tuple[list, int] | None:
    """The same fields through Arrow's C++ reader, when it provably reads them
    like ``csvtext.records`` (no line leaves a quote open in single-line mode, CR
    only in CRLF, every record the same width); None otherwise. ``utf8``: the
    text's UTF-8 bytes when the caller has them (else they are encoded here)."""
    import pyarrow
    import pyarrow.csv

    multi_line = opts["support_multi_line"]
    usable = csvtext.crlf_only(text) if multi_line else csvtext.line_mode_candidate(text)
    if not text or text.isspace() or not usable:  # (text.strip() would copy it)
        return None
    buffer = pyarrow.py_buffer(text.encode("utf-8") if utf8 is None else utf8)
    try:
        table = pyarrow.csv.read_csv(
            buffer,
            read_options=pyarrow.csv.ReadOptions(  # one block: each column one chunk, nothing to combine
                autogenerate_column_names=True,
                use_threads=False,
                block_size=max(1 << 20, min(buffer.size + 1, 1 << 30)),
            ),
            parse_options=pyarrow.csv.ParseOptions(
                delimiter=opts["delimiter"],
                quote_char=csvtext.QUOTE,
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
            ),
            convert_options=_all_text(),
        )
    except pyarrow.ArrowInvalid:  # ragged rows and anything else unusual: the Python reader handles it
        return None
    if not multi_line and any(inference.holds(column, "\n") for column in table.columns):
        return None  # a quoted field spanned lines: single-line mode splits it (Python reader)
    start = 1 if skip_header and table.num_rows else 0
    # dropping the header slices every column: copy to offset 0 (see inference.contiguous)
    columns = [inference.contiguous(_one_chunk(table.column(i)).slice(start)) for i in range(table.num_columns)]
    return columns, table.num_rows - start


def _one_chunk(column):
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


@functools.cache
def _all_text():
    """Arrow's options that keep every field text (up to 4096 columns); built
    once per process (a 4096-entry mapping: ~10 ms, as much as parsing 2 MB)."""
    import pyarrow
    import pyarrow.csv

    return pyarrow.csv.ConvertOptions(
        column_types={f"f{i}": pyarrow.string() for i in range(4096)},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def _frame(
    columns: list,
    n_rows: int,
    header: list[str],
    schema: list[list[str]],
    opts: dict[str, Any],
    path: str,
    only: list[str] | None = None,
):
    import pandas

    names = list(header) + [f"Column{i + 1}" for i in range(len(header), len(columns))]
    position = {name: i for i, name in enumerate(names)}
    if not opts["infer_column_types"]:
        schema = [[n, "string"] for n, _ in schema]
    known = [n for n, _ in schema]
    extra = [
        [n, inference.infer_family(_as_list(_values(columns, position[n], n_rows)), opts["empty_as_string"])]
        for n in names
        if n not in known and (only is None or n in only)
    ]
    series = {}
    for name, family in list(schema) + extra:
        if (
            name == opts.get("path_column")
            and opts.get("include_path_column")
            or (only is not None and name not in only)
        ):
            continue
        values = _values(columns, position[name], n_rows) if name in position else [None] * n_rows
        series[name] = inference.to_series(values, family, name, empty_as_string=opts["empty_as_string"])
    frame = pandas.DataFrame(series, index=pandas.RangeIndex(n_rows))
    return with_path(frame, path, opts)


def _values(columns: list, i: int, n_rows: int) -> list:
    if i >= len(columns):
        return [None] * n_rows
    return columns[i]  # a list (Python reader) or an Arrow string array


def _as_list(values) -> list:
    return values if isinstance(values, list) else values.to_pylist()


def with_path(frame, path: str, opts: dict[str, Any]):
    if opts.get("include_path_column"):
        import pandas

        frame.insert(0, opts["path_column"], pandas.Series([path] * len(frame), dtype="object", index=frame.index))
    return frame


# --- JSON lines ---------------------------------------------------------------------------
@readfail.names_file
def json_records(path: str, start: int, end: int | None, opts: dict[str, Any]) -> list[dict[str, Any]]:
    text = decode(read_bytes(path, start, end), opts["encoding"], start == 0)
    return json_records_from_lines(text.split("\n"), opts, path, start)


def json_records_from_lines(lines: list[str], opts: dict[str, Any], path: str, start: int = 0) -> list[dict[str, Any]]:
    out = []
    for number, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            if opts["invalid_lines"] == "drop":
                continue
            where = f"line {number + 1}" + (f" after byte {start}" if start else "")
            raise errors.UserError(
                f"{path}: {where} is not a JSON object ({exc}); fix the line or set read_json_lines.invalid_lines: drop",
                field="transformations.read_json_lines.invalid_lines",
            ) from None
        out.append(record)
    return out


def json_family(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "string"
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "string"


def json_frame(
    records: list[dict[str, Any]],
    schema: list[list[str]],
    opts: dict[str, Any],
    path: str,
    only: list[str] | None = None,
):
    import pandas

    if only is not None:
        schema = [entry for entry in schema if entry[0] in only]
    known = [n for n, _ in schema]
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    extra = [
        [k, json_family([r.get(k) for r in records])] for k in seen if k not in known and (only is None or k in only)
    ]
    columns = {}
    for name, family in list(schema) + extra:
        values = [r.get(name) for r in records]
        columns[name] = _json_series(values, family, name)
    frame = pandas.DataFrame(columns, index=pandas.RangeIndex(len(records)))
    return with_path(frame, path, opts)


def _json_series(values: list[Any], family: str, name: str):
    import pandas

    if json_family(values) not in (family, "string") and not (family == "float" and json_family(values) == "int"):
        family = "string"
    has_null = any(v is None for v in values)
    if family == "int" and not has_null and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pandas.Series(values, dtype="int64", name=name)
    if family in ("int", "float") and all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
    ):
        return pandas.Series([float("nan") if v is None else float(v) for v in values], dtype="float64", name=name)
    if family == "bool" and not has_null and all(isinstance(v, bool) for v in values):
        return pandas.Series(values, dtype="bool", name=name)
    series = pandas.Series([None] * len(values), dtype="object", name=name)
    for i, v in enumerate(values):
        series.iat[i] = v
    return series
