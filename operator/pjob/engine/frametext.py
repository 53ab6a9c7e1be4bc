"""A DataFrame's rows as append_row text, fast: the bytes of
``frame.to_csv(sep=" ", header=None, index=None)`` (Azure's append_row
format) built column by column instead of by pandas' row-by-row CSV writer,
which is most of a table worker's time on a big CSV.

Only frames whose every column has a plain dtype take the fast path: signed
or unsigned integers, float64, bool, naive datetime64[ns], object columns
holding only ``str`` and nulls (None/NaN), and pandas' string dtypes. Each
column is turned into strings exactly as pandas' ``get_values_for_csv`` does
for ``to_csv`` (floats: ``astype(str)``, which is ``float.__repr__``; ints and
bools: ``str``; nulls: ""), then quoted as ``csv.QUOTE_MINIMAL`` with a space
delimiter quotes (a field holding a space, a quote or a line feed is wrapped
in quotes, quotes doubled). Anything else returns None and the caller uses
``to_csv``: other dtypes (other datetimes, categoricals, float32, extension
types), one-column frames (the csv module quotes a lone empty field) and
any field with a carriage return (its quoting differs between Python
versions). Column names and the row index play no part.

With pyarrow (``_arrow_rows``) no Python string is made per field: each
column becomes an Arrow string array (ints by Arrow's cast; floats by Arrow's
cast, which writes ``repr``'s shortest digits, plus the ".0" it leaves off
whole numbers, ``repr`` itself for the few values in exponent notation; text
quoted through the mask of values that need it; nulls are nulls), and one
``binary_join_element_wise`` of those arrays with the separators, quotes and
line feeds between them (scalars, or per-row arrays where only some values
are quoted) writes the rows, whose bytes are the text. Without pyarrow the
same strings are Python lists joined row by row. ``tests/unit/engine/
test_frametext.py`` holds both outputs equal to ``to_csv`` on generated frames
of many dtypes.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy
    import pandas

DatetimeFormat = tuple[bool, str, int]  # (dates only, unit, width): _datetime_format
Pieces = list[Any]  # Arrow string arrays and str, joined end to end into the rows


def rows_text(frame: pandas.DataFrame) -> str | None:
    """``frame.to_csv(sep=" ", header=None, index=None)``, or None when this
    frame is not one the fast path provably writes the same."""
    data = rows_bytes(frame)
    return None if data is None else str(data, "utf-8")


def rows_bytes(frame: pandas.DataFrame) -> bytes | memoryview | None:
    """``rows_text`` as UTF-8 bytes, as a worker writes them: with pyarrow a
    view of the Arrow buffer the rows were joined into (no decoded ``str``,
    no encoded copy of a mini-batch's text)."""
    import numpy as np

    n_rows, n_cols = frame.shape
    if n_cols < 2:
        return None
    if n_rows == 0:
        return b""
    series = [frame.iloc[:, i] for i in range(n_cols)]
    # a datetime column's format is chosen over the whole column; everything else is per value
    formats = [_datetime_format(s.to_numpy(), np) if s.dtype == np.dtype("datetime64[ns]") else None for s in series]
    try:
        import pyarrow
        import pyarrow.compute
    except ImportError:
        text = _python_rows(series, formats, n_rows, np)
        return None if text is None else text.encode("utf-8")
    return _arrow_rows(series, formats, n_rows, np, pyarrow, pyarrow.compute)


BLOCK_ROWS = 1 << 18  # rows turned into text at a time: bounds the Arrow arrays (a 10 MB mini-batch is one block)


def _arrow_rows(
    series: list[pandas.Series],
    formats: list[DatetimeFormat | None],
    n_rows: int,
    np: ModuleType,
    pa: ModuleType,
    pc: ModuleType,
) -> memoryview | bytes | None:
    parts = []
    for lo in range(0, n_rows, BLOCK_ROWS):
        pieces: Pieces = []
        for s, fmt in zip(series, formats):
            try:
                column = _arrow_column(s.iloc[lo : lo + BLOCK_ROWS], fmt, np, pa, pc)
            except (pa.ArrowException, ValueError, TypeError):  # values Arrow does not take as they are
                return None
            if column is None:
                return None
            pieces += column
            pieces.append(" ")
        pieces[-1] = "\n"
        merged: Pieces = []
        for piece in pieces:  # neighbouring constants as one scalar
            if isinstance(piece, str) and merged and isinstance(merged[-1], str):
                merged[-1] += piece
            else:
                merged.append(piece)
        try:
            rows = pc.binary_join_element_wise(*merged, "", null_handling="replace", null_replacement="")
        except pa.ArrowException:  # (more than 2 GiB of text in a block)
            return None
        parts.append(_data(rows, np))  # the view keeps the Arrow buffer alive
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _data(strings: Any, np: ModuleType) -> memoryview:
    """The bytes of all values of an Arrow string array, end to end."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4)
    data = strings.buffers()[2]
    # as unsigned bytes ('B'): Arrow's buffers are signed ('b'), which compare unlike bytes above 127
    return memoryview(data).cast("B")[int(offsets[0]) : int(offsets[-1])] if data is not None else memoryview(b"")


def _arrow_column(
    series: pandas.Series, fmt: DatetimeFormat | None, np: ModuleType, pa: ModuleType, pc: ModuleType
) -> Pieces | None:
    dtype = series.dtype
    kind = getattr(dtype, "kind", "")
    if not isinstance(dtype, np.dtype):
        import pandas

        if isinstance(dtype, pandas.StringDtype):  # pandas 3's default for text; nulls are NA or NaN
            return _arrow_strings(series.to_numpy(dtype=object, na_value=None), np, pa, pc)  # type: ignore[call-overload]  # pandas-stubs lacks na_value=None
        return None  # other extension dtypes (nullable ints, categorical, ...): pandas' own writer
    values = series.to_numpy()
    if kind in "iu":
        return [pc.cast(pa.array(values), pa.string())]
    if kind == "b":
        return [pc.if_else(pa.array(values), "True", "False")]
    if kind == "f" and dtype.itemsize == 8:
        return _arrow_floats(values, np, pa, pc)
    if kind == "O":
        return _arrow_strings(values, np, pa, pc)
    if dtype == np.dtype("datetime64[ns]"):
        dates_only, _, width = fmt or _datetime_format(values, np)
        stamps = pa.array(values, mask=np.isnat(values))  # NaT: null
        if dates_only:
            return [pc.cast(pc.cast(stamps, pa.date32()), pa.string())]
        # "YYYY-MM-DD HH:MM:SS.nnnnnnnnn" for every ns timestamp (4-digit years in range), cut to the column's width
        text = pc.utf8_slice_codeunits(pc.cast(stamps, pa.string()), 0, width)
        return _quoted(text, pc.is_valid(text), pa, pc)
    return None


def _arrow_floats(values: numpy.ndarray, np: ModuleType, pa: ModuleType, pc: ModuleType) -> Pieces:
    """``float.__repr__`` of each value (null for NaN) by Arrow's cast, which
    writes the same shortest round-trip digits: where ``repr`` writes
    positional notation (1e-4 <= |v| < 1e16, and zero) and Arrow did too (no
    "e"), the two differ only by the ".0" Arrow leaves off whole numbers,
    joined after them; any other value (inf, exponents) is ``repr``'s own."""
    nan = np.isnan(values)
    text = pc.cast(pa.array(values, mask=nan if nan.any() else None), pa.string())
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values)
        positional = ((magnitude >= 1e-4) & (magnitude < 1e16)) | (values == 0)
    if b"e" in bytes(_data(text, np)):
        positional &= ~_flags(pc.match_substring(text, "e"), np, pc)
    whole = positional & ~_flags(pc.match_substring(text, "."), np, pc) if positional.any() else positional
    other = ~positional & ~nan
    if other.any():  # (replace_with_mask copies the whole array: for the few values that need it)
        reprs = [repr(v) for v in values[other].tolist()]
        text = pc.replace_with_mask(text, pa.array(other), pa.array(reprs, type=pa.string()))
    if not whole.any():
        return [text]
    return [text, ".0" if whole.all() else pc.if_else(pa.array(whole), ".0", "")]


def _flags(mask: Any, np: ModuleType, pc: ModuleType) -> numpy.ndarray:
    """An Arrow boolean array as numpy, null as False."""
    flags: numpy.ndarray = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
    return flags


def _arrow_strings(values: numpy.ndarray, np: ModuleType, pa: ModuleType, pc: ModuleType) -> Pieces | None:
    """Text values (``str``; None or NaN as null) quoted as the csv module
    does; None for any other value or a carriage return."""
    text = pa.array(values, from_pandas=True)  # infers the type: string only when every non-null value is a str
    if isinstance(text, pa.ChunkedArray):
        return None
    if text.null_count:
        nulls = np.flatnonzero(_flags(pc.is_null(text), np, pc)).tolist()
        if not all(values[i] is None or (isinstance(values[i], float) and values[i] != values[i]) for i in nulls):
            return None  # pd.NA, NaT, ...: pandas' own writer
        if text.null_count == len(text):
            return [pa.nulls(len(text), pa.string())]
    if text.type != pa.string():
        return None
    data = bytes(_data(text, np))
    if b"\r" in data:
        return None
    needs = pc.match_substring(text, " ")
    if b"\n" in data:
        needs = pc.or_(needs, pc.match_substring(text, "\n"))
    if b'"' in data:
        needs = pc.or_(needs, pc.match_substring(text, '"'))
        text = pc.replace_substring(text, '"', '""')
    return _quoted(text, needs, pa, pc)


def _quoted(text: Any, needs: Any, pa: ModuleType, pc: ModuleType) -> Pieces:
    """``text`` with quotes around the values where ``needs`` is true (null is null)."""
    count = pc.sum(needs).as_py() or 0
    if count == 0:
        return [text]
    if count == len(text):  # (no nulls: a null needs nothing)
        return ['"', text, '"']
    quote = pc.if_else(needs, '"', "")
    return [quote, text, quote]


# --- without pyarrow: Python strings ----------------------------------------------------
def _python_rows(
    series: list[pandas.Series], formats: list[DatetimeFormat | None], n_rows: int, np: ModuleType
) -> str | None:
    parts = []
    for lo in range(0, n_rows, PYTHON_BLOCK_ROWS):  # a block's strings, not the whole frame's, live at once
        columns = []
        for s, fmt in zip(series, formats):
            text = _column_text(s.iloc[lo : lo + PYTHON_BLOCK_ROWS], np, fmt)
            if text is None:
                return None
            columns.append(text)
        parts.append("\n".join(map(" ".join, zip(*columns))) + "\n")
    return "".join(parts)


PYTHON_BLOCK_ROWS = 8192  # (a 10 MB mini-batch: its peak ~100 -> ~10 MB of strings)


def _column_text(series: pandas.Series, np: ModuleType, fmt: DatetimeFormat | None = None) -> list[str] | None:
    dtype = series.dtype
    kind = getattr(dtype, "kind", "")
    if not isinstance(dtype, np.dtype):
        import pandas

        if isinstance(dtype, pandas.StringDtype):
            return _object_text(series.to_numpy(dtype=object, na_value=None).tolist())  # type: ignore[call-overload]  # pandas-stubs lacks na_value=None
        return None
    values = series.to_numpy()
    if kind in "iu":
        return list(map(str, values.tolist()))
    if kind == "b":
        return ["True" if v else "False" for v in values.tolist()]
    if kind == "f" and dtype.itemsize == 8:  # float.__repr__ is numpy's astype(str) for float64
        reprs = list(map(float.__repr__, values.tolist()))
        return ["" if t == "nan" else t for t in reprs] if np.isnan(values).any() else reprs
    if kind == "O":
        return _object_text(values.tolist())
    if dtype == np.dtype("datetime64[ns]"):
        return _datetime_text(values, np, fmt)
    return None


_NS_UNITS = ((10**3, "ns", 29), (10**6, "us", 26), (10**9, "ms", 23))  # unit, length of "YYYY-MM-DD HH:MM:SS.f..."


def _datetime_format(values: numpy.ndarray, np: ModuleType) -> DatetimeFormat:
    """(dates only, unit, width) of a naive datetime64[ns] column as pandas
    writes it: dates only when every value is at midnight, else date and time
    with as many fractional digits as the finest value needs."""
    ns = values.view("int64")[~np.isnat(values)]
    dates_only = not ns.size or not (ns % (86400 * 10**9)).any()
    unit, width = next(((u, w) for step, u, w in _NS_UNITS if (ns % step).any()), ("s", 19))
    return dates_only, unit, width


def _datetime_text(values: numpy.ndarray, np: ModuleType, fmt: DatetimeFormat | None = None) -> list[str]:
    """As pandas writes a naive datetime64[ns] column, in the format ``fmt``
    chosen for the whole column (``_datetime_format``; these values' own when
    None); NaT is ""."""
    nat = np.isnat(values)
    dates_only, unit, _ = fmt or _datetime_format(values, np)
    text: list[str] = np.datetime_as_string(values, unit="D" if dates_only else unit).tolist()
    if not dates_only:
        text = ['"' + t.replace("T", " ") + '"' for t in text]
    if nat.any():
        text = ["" if null else t for t, null in zip(text, nat.tolist())]
    return text


def _object_text(values: list[object]) -> list[str] | None:
    out = []
    for v in values:
        if v.__class__ is str:
            if "\r" in v:
                return None
            if " " in v or '"' in v or "\n" in v:
                v = '"' + v.replace('"', '""') + '"'
            out.append(v)
        elif v is None or (v.__class__ is float and v != v):
            out.append("")
        else:
            return None  # ints, floats, bytes, ... in an object column: pandas' own writer
    return out
