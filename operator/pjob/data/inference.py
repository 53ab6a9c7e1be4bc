"""Column types of delimited text, inferred the way Azure's MLTable reader
does, and the conversion of text columns to pandas Series of those types.

Called by ``pjob.data.tables`` (inference over a sample while planning, so
every mini-batch gets the same dtypes) and ``pjob.data.readers`` (conversion
of one slice). ``infer_family`` is pure; ``to_series`` imports pandas.

Rules observed from Microsoft's ``mltable`` 1.7 (see the differential test):
- empty fields are nulls and do not vote (with ``empty_as_string`` they are
  text and make the column text; missing fields of short rows stay null);
- ``bool``: every value is true/false/1/0 (any case, surrounding spaces
  ignored), so a column holding only 0 and 1 is boolean;
- ``int``: optional ``-`` and no leading zeros (``01`` and ``+1`` are text);
- ``float``: decimals, exponents, ``nan``, ``inf`` (ints may mix in);
- ``datetime``: ISO-like ``YYYY-MM-DD`` or ``YYYY/MM/DD`` with an optional
  ``[T ]HH:MM[:SS[.f]]`` and optional ``Z`` (``01/02/2020`` stays text);
- anything else, or a column with no values at all: ``string``.
Resulting dtypes: int64 (float64 when it has nulls), float64, bool (object
with None when it has nulls), datetime64[ns] (NaT for nulls), object str
(None for nulls, or "" when ``empty_as_string``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

FAMILIES = ("int", "float", "bool", "datetime", "string")

_BOOL = {"true", "false", "1", "0"}
_INT = re.compile(r"^\s*-?(?:0|[1-9][0-9]*)\s*$")
_FLOAT = re.compile(
    r"^\s*[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|nan|NaN|NAN|inf|Inf|INF|infinity|Infinity)\s*$"
)
_DATETIME = re.compile(
    r"^\s*[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?Z?\s*$"
)
_INT64_MAX = 2**63 - 1


def is_null(value: str | None) -> bool:
    return value is None or value == ""


def infer_family(values: Iterable[str | None], empty_as_string: bool = False) -> str:
    """The narrowest family every non-empty value fits. With ``empty_as_string``
    an empty field is a (text) value, so it makes its column text, as in Azure."""
    candidates = ["bool", "int", "float", "datetime"]
    seen = False
    for value in values:
        if value is None or (value == "" and not empty_as_string):
            continue
        if value == "":
            return "string"
        seen = True
        candidates = [c for c in candidates if fits(value, c)]
        if not candidates:
            return "string"
    return candidates[0] if seen and candidates else "string"


def fits(value: str, family: str) -> bool:
    if family == "bool":
        return value.strip().lower() in _BOOL
    if family == "int":
        return bool(_INT.match(value)) and abs(int(value)) <= _INT64_MAX
    if family == "float":
        return bool(_FLOAT.match(value))
    if family == "datetime":
        return bool(_DATETIME.match(value))
    return True


def merge(a: str, b: str) -> str:
    """The family that holds values of both (used across files/samples)."""
    if a == b:
        return a
    if {a, b} <= {"int", "float"}:
        return "float"
    if {a, b} <= {"bool", "int"}:
        return "int"
    if {a, b} <= {"bool", "int", "float"}:
        return "float"
    return "string"


_ARROW_PATTERNS = {
    "bool": r"^\s*(?i:true|false|1|0)\s*$",
    "int": _INT.pattern,
    "float": _FLOAT.pattern,
    "datetime": _DATETIME.pattern,
}


def to_series(values: Sequence[str | None], family: str, name: str, *, empty_as_string: bool = False):
    """A pandas Series of ``family`` from text values (vectorised with Arrow).
    A value that does not fit the planned family (the plan inferred it from a
    sample) turns the column of this slice into text rather than losing it."""
    import pandas
    import pyarrow
    import pyarrow.compute as pc

    arr = values if isinstance(values, pyarrow.Array) else pyarrow.array(values, type=pyarrow.string())
    arr = contiguous(arr)
    if not empty_as_string and len(arr):
        arr = pc.if_else(pc.equal(arr, ""), pyarrow.scalar(None, pyarrow.string()), arr)
    if family == "datetime":  # the common zero-padded ISO form: Arrow parses it, no regex pass over it first
        fast = arrow_datetimes(arr)
        if fast is not None:
            return pandas.Series(fast, dtype="datetime64[ns]", name=name)
    if family in ("int", "float"):  # canonical numbers: Arrow casts them, no regex pass, no trim
        numbers = arrow_numbers(arr, family)
        if numbers is not None:
            dtype = "float64" if family == "float" or arr.null_count else "int64"
            return pandas.Series(numbers.to_numpy(zero_copy_only=False), dtype=dtype, name=name)
    if family != "string" and not _all_fit(arr, family):
        family = "string"
    has_null = arr.null_count > 0
    if family == "string":
        return pandas.Series(arr.to_numpy(zero_copy_only=False), dtype="object", name=name)
    trimmed = pc.utf8_trim_whitespace(arr)
    if family == "bool":
        lowered = pc.utf8_lower(trimmed)
        flags = pc.or_(pc.equal(lowered, "true"), pc.equal(lowered, "1"))
        return pandas.Series(flags.to_numpy(zero_copy_only=False), dtype="object" if has_null else "bool", name=name)
    if family == "int":
        try:
            ints = pc.cast(trimmed, pyarrow.int64())
        except (pyarrow.ArrowInvalid, OverflowError):
            return to_series(values, "string", name, empty_as_string=empty_as_string)
        return pandas.Series(ints.to_numpy(zero_copy_only=False), dtype="float64" if has_null else "int64", name=name)
    if family == "float":
        return pandas.Series(
            pc.cast(trimmed, pyarrow.float64()).to_numpy(zero_copy_only=False), dtype="float64", name=name
        )
    # datetime: YYYY/MM/DD -> YYYY-MM-DD, drop a trailing Z (Azure returns naive times)
    text = pc.replace_substring_regex(pc.replace_substring(trimmed, "/", "-"), "Z$", "")
    return pandas_datetimes(text, name)


def arrow_numbers(text, family: str):
    """The Arrow array ``to_series`` makes of an ``int`` or ``float`` column
    (``text``: Arrow strings, empty fields already null), cast straight from
    the text, for columns whose every value is written plainly: ints exactly
    as Arrow writes them back (so no ``+``, leading zero, ``-0`` or space,
    which the ``int`` family reads differently or not at all), floats that
    Arrow parses to a finite number (a ``nan``/``inf`` spelling goes the regular
    way, whose pattern decides which spellings count). None for anything else,
    which goes the regular way: a regex check, trimming, then the same cast,
    so both give the same values whenever this one answers."""
    import pyarrow
    import pyarrow.compute as pc

    if text.null_count == len(text):
        return None
    try:
        numbers = pc.cast(text, pyarrow.int64() if family == "int" else pyarrow.float64())
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError, OverflowError):
        return None
    if family == "int":
        plain = pc.all(pc.equal(pc.cast(numbers, pyarrow.string()), text))
    else:
        plain = pc.all(pc.is_finite(numbers))
    return numbers if plain.as_py() else None


def pandas_datetimes(text, name: str | None = None):
    """Normalised ISO-like texts (an Arrow string array) as datetime64[ns] by pandas."""
    import pandas

    objects = pandas.Series(text.to_numpy(zero_copy_only=False), dtype="object")
    return pandas.Series(pandas.to_datetime(objects, format="ISO8601"), name=name).astype("datetime64[ns]")


_ARROW_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?$"
_NS_RANGE = (-(2**63) + 1, 2**63 - 1)  # datetime64[ns] (NaT is -2**63)


def arrow_datetimes(text):
    """The same values as ``pandas_datetimes``, four times faster, through
    Arrow's ISO-8601 cast, for texts that are all zero-padded ``YYYY-MM-DD[( |T)
    HH:MM[:SS[.ffffff]]]`` (no spaces around, no Z, no slashes: those fit the
    datetime family as they are) in datetime64[ns]'s range (a numpy
    datetime64[ns] array); None for anything else, which goes the regular way."""
    import numpy
    import pyarrow
    import pyarrow.compute as pc

    if text.null_count == len(text):
        return None
    iso = fixed_width_iso(text)
    if not (pc.all(pc.match_substring_regex(text, _ARROW_ISO)).as_py() if iso is None else iso):
        return None
    try:
        micros = pc.cast(text, pyarrow.timestamp("us"))
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError):
        return None
    values = micros.to_numpy(zero_copy_only=False)
    finite = values[~numpy.isnat(values)].astype("int64")
    if finite.size and (finite.min() < _NS_RANGE[0] // 1000 + 1 or finite.max() > _NS_RANGE[1] // 1000 - 1):
        return None  # out of datetime64[ns]'s range: pandas says so
    return values.astype("datetime64[ns]")


_ISO_WIDTHS = (10, 16, 19, 21, 22, 23, 24, 25, 26)  # the lengths _ARROW_ISO matches
_ISO_SEPARATORS = {4: b"-", 7: b"-", 10: b"T ", 13: b":", 16: b":", 19: b"."}  # digits elsewhere


def fixed_width_iso(text) -> bool | None:
    """Whether every value of an Arrow string array matches ``_ARROW_ISO``,
    decided from the bytes as a table of fixed-width rows when the values are
    all the same length and not null (the common column of dates), a byte
    compare per position instead of a regex per value; None otherwise."""
    import numpy
    import pyarrow

    n = len(text)
    if not n or text.null_count or text.type != pyarrow.string():
        return None
    offsets = numpy.frombuffer(text.buffers()[1], dtype=numpy.int32, count=n + 1, offset=text.offset * 4)
    width, spare = divmod(int(offsets[-1] - offsets[0]), n)
    if spare or (offsets[1:] - offsets[:-1] != width).any():
        return None
    if width not in _ISO_WIDTHS:
        return False  # (a value of another length in bytes never matches)
    rows = numpy.frombuffer(text.buffers()[2], dtype=numpy.uint8, count=n * width, offset=int(offsets[0]))
    rows = rows.reshape(n, width)
    for i in range(width):
        column = rows[:, i]
        allowed = _ISO_SEPARATORS.get(i)
        if allowed is None:
            ok = (column - 48 < 10).all()  # uint8: any other byte wraps past 9
        else:
            ok = numpy.isin(column, numpy.frombuffer(allowed, dtype=numpy.uint8)).all()
        if not ok:
            return False
    return True


def holds(strings, char: str) -> bool:
    """Whether a value of an Arrow string array (or chunked array) holds the
    character ``char``: a search (memchr) of the bytes from the first value's
    start to the last one's end, which are the values' bytes end to end (a
    character never spans two values), instead of a kernel pass per value."""
    import numpy
    import pyarrow
    import pyarrow.compute as pc

    if strings.type != pyarrow.string():  # (int64 offsets): the kernel
        return bool(pc.any(pc.match_substring(strings, char)).as_py())
    needle = char.encode("utf-8")
    for chunk in strings.chunks if hasattr(strings, "chunks") else [strings]:
        n, (_, offsets, data) = len(chunk), chunk.buffers()
        if n and data is not None:
            ends = numpy.frombuffer(offsets, dtype=numpy.int32, count=n + 1, offset=chunk.offset * 4)[[0, -1]]
            if needle in memoryview(data)[int(ends[0]) : int(ends[1])].tobytes():
                return True
    return False


def contiguous(arr):
    """``arr`` starting at offset 0 (a copy when it is a slice). pyarrow < 24
    computes ``if_else`` and other kernels over a sliced string array wrongly
    (an invalid array, or bytes of neighbouring rows as values); the readers
    slice the header line off, so every array is made contiguous before any
    kernel sees it."""
    import pyarrow

    return pyarrow.concat_arrays([arr]) if arr.offset else arr


def _all_fit(arr, family: str) -> bool:
    import pyarrow.compute as pc

    if arr.null_count == len(arr):
        return True
    return bool(pc.all(pc.match_substring_regex(arr, _ARROW_PATTERNS[family])).as_py())


def empty_series(family: str, name: str):
    """A zero-row Series with the dtype a column of ``family`` gets."""
    import pandas

    dtype = {"int": "int64", "float": "float64", "bool": "bool", "datetime": "datetime64[ns]"}.get(family, "object")
    return pandas.Series([], dtype=dtype, name=name)


def family_of_dtype(dtype) -> str:
    """The family of a pandas dtype (for Parquet/JSON columns and schemas)."""
    kind = getattr(dtype, "kind", "O")
    return {"i": "int", "u": "int", "f": "float", "b": "bool", "M": "datetime"}.get(kind, "string")
