"""A DataFrame's rows as append_row text, fast: the bytes of
``frame.to_csv(sep=" ", header=None, index=None)`` (Azure's append_row
format) built column by column with numpy instead of pandas' row-by-row
CSV writer, which is most of a table worker's time on a big CSV.

Only frames whose every column has a plain dtype take the fast path: signed
or unsigned integers, float64, bool, naive datetime64[ns], object columns
holding only ``str`` and nulls (None/NaN), and pandas' string dtypes. Each column is turned into strings exactly as pandas'
``get_values_for_csv`` does for ``to_csv`` (floats: ``astype(str)``, which is
``float.__repr__``; ints and bools: ``str``; nulls: ""), then quoted as ``csv.QUOTE_MINIMAL`` with a space
delimiter quotes (a field holding a space, a quote or a line feed is wrapped
in quotes, quotes doubled). Anything else returns None and the caller uses
``to_csv``: other dtypes (other datetimes, categoricals, float32, extension types),
one-column frames (the csv module quotes a lone empty field), any field with
a carriage return (its quoting differs between Python versions) and a
non-default column index. ``tests/unit/engine/test_frametext.py`` holds the
output equal to ``to_csv`` on generated frames of many dtypes.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy
    import pandas

DatetimeFormat = tuple[bool, str, int]  # (dates only, unit, width): _datetime_format

_SPECIAL = (" ", '"', "\n")


def rows_text(frame: pandas.DataFrame) -> str | None:
    """``frame.to_csv(sep=" ", header=None, index=None)``, or None when this
    frame is not one the fast path provably writes the same."""
    import numpy as np

    n_rows, n_cols = frame.shape
    if n_cols < 2:
        return None
    if n_rows == 0:
        return ""
    series = [frame.iloc[:, i] for i in range(n_cols)]
    # a datetime column's format is chosen over the whole column; everything else is per value
    formats = [_datetime_format(s.to_numpy(), np) if s.dtype == np.dtype("datetime64[ns]") else None for s in series]
    parts = []
    for lo in range(0, n_rows, BLOCK_ROWS):  # in blocks: a block's strings, not the whole frame's, live at once
        columns = []
        for s, fmt in zip(series, formats):
            text = _column_text(s.iloc[lo : lo + BLOCK_ROWS], np, fmt)
            if text is None:
                return None
            columns.append(text)
        parts.append("\n".join(map(" ".join, zip(*columns))) + "\n")
    return "".join(parts)


BLOCK_ROWS = 8192  # rows turned into text at a time (a 10 MB mini-batch: its peak ~100 -> ~10 MB of strings)


def _column_text(series: pandas.Series, np: ModuleType, fmt: DatetimeFormat | None = None) -> list[str] | None:
    dtype = series.dtype
    kind = getattr(dtype, "kind", "")
    if not isinstance(dtype, np.dtype):
        import pandas

        if isinstance(dtype, pandas.StringDtype):  # pandas 3's default for text; nulls are NA or NaN
            return _object_text(series.to_numpy(dtype=object, na_value=None).tolist())  # type: ignore[call-overload]  # pandas-stubs lacks na_value=None
        return None  # other extension dtypes (nullable ints, categorical, ...): pandas' own writer
    values = series.to_numpy()
    if kind in "iu":
        return list(map(str, values.tolist()))
    if kind == "b":
        return ["True" if v else "False" for v in values.tolist()]
    if kind == "f" and dtype.itemsize == 8:  # float.__repr__ is numpy's astype(str) for float64
        return _float_text(values, np)
    if kind == "O":
        return _object_text(values.tolist())
    if dtype == np.dtype("datetime64[ns]"):
        return _datetime_text(values, np, fmt)
    return None


def _float_text(values: numpy.ndarray, np: ModuleType) -> list[str]:
    """``float.__repr__`` of each value ("" for NaN), mostly by Arrow's cast,
    which writes the same shortest round-trip digits: where ``repr`` writes
    positional notation (1e-4 <= |v| < 1e16, and zero) and Arrow did too (no
    "e"), the two differ only by the ".0" Arrow leaves off whole numbers,
    added here; any other value (NaN, inf, exponents) is ``repr``'s own."""
    try:
        import pyarrow
        import pyarrow.compute as pc
    except ImportError:
        pyarrow = None
    if pyarrow is None or not len(values):
        reprs = list(map(float.__repr__, values.tolist()))
        return ["" if t == "nan" else t for t in reprs] if np.isnan(values).any() else reprs
    arrow = pc.cast(pyarrow.array(values), pyarrow.string())
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values)
        positional = ((magnitude >= 1e-4) & (magnitude < 1e16)) | (values == 0)
    positional &= ~pc.match_substring(arrow, "e").to_numpy(zero_copy_only=False)
    whole = ~pc.match_substring(arrow, ".").to_numpy(zero_copy_only=False)
    if whole.any():
        arrow = pc.if_else(pyarrow.array(whole), pc.binary_join_element_wise(arrow, ".0", ""), arrow)
    text: list[str] = arrow.to_pylist()
    for i in np.flatnonzero(~positional).tolist():
        v = float(values[i])
        text[i] = "" if v != v else repr(v)
    return text


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
    dates_only, unit, width = fmt or _datetime_format(values, np)
    text: list[str]
    try:
        import pyarrow
    except ImportError:  # numpy alone: slower
        text = np.datetime_as_string(values, unit="D" if dates_only else unit).tolist()
        if not dates_only:
            text = ['"' + t.replace("T", " ") + '"' for t in text]
    else:  # Arrow's casts print every ns timestamp as "YYYY-MM-DD HH:MM:SS.nnnnnnnnn" (4-digit years in range)
        arr = pyarrow.array(values)
        if dates_only:
            text = arr.cast(pyarrow.date32()).cast(pyarrow.string()).to_pylist()
        else:
            text = ['"' + t[:width] + '"' if t is not None else "" for t in arr.cast(pyarrow.string()).to_pylist()]
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
