"""data.inference casts plainly written int and float columns straight from
the text with Arrow (``arrow_numbers``); whatever it accepts must come out
exactly as the regular path (regex check, trim, cast) makes it: the same
dtype, the same bytes, the same text when written as append_row output; and
whatever it declines goes the regular way (which may turn the column into text)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pjob.data import inference

INT64_MAX = 2**63 - 1

plain_ints = st.integers(-(2**63), 2**63 - 1).map(str)
odd_ints = st.sampled_from(
    ["+1", " 1", "1 ", "01", "00", "-0", "-01", "0x10", "1e3", "9223372036854775808", "-9223372036854775809"]
    + ["99999999999999999999999", "1.0", "1_000", "\t1", "١", "0"]
)
plain_floats = st.floats(allow_nan=False, allow_infinity=False).map(repr) | st.floats(allow_nan=False).map(
    lambda f: f"{f:.4f}"
)
odd_floats = st.sampled_from(
    ["nan", "NaN", "nAn", "NAN", "-nan", "+nan", "inf", "-inf", "Inf", "INF", "iNf", "infinity", "Infinity"]
    + ["INFINITY", "+inf", "1e400", "-1e400", "1e-400", "1.", ".5", "+.5", ".", "-", "+", "1e", "e1", "1.5f"]
    + [" 1.5", "1.5 ", "+1", "01.50", "1E5", "1e+5", "-0.0", "0e0", "0x1p3", "1,5"]
)
junk = st.text(alphabet="0123456789+-.eE xnNaAiIfFtTy\t", max_size=8)
value = plain_ints | odd_ints | plain_floats | odd_floats | junk | st.none() | st.just("") | st.just("  ")


def outcome(values, family: str, empty_as_string: bool, fast: bool, monkeypatch):
    if not fast:
        monkeypatch.setattr(inference, "arrow_numbers", lambda text, family: None)
    try:
        return inference.to_series(values, family, "n", empty_as_string=empty_as_string)
    finally:
        monkeypatch.undo()


def same(fast: pd.Series, slow: pd.Series) -> bool:
    if fast.dtype != slow.dtype or fast.name != slow.name or len(fast) != len(slow):
        return False
    if slow.dtype == object:
        return fast.equals(slow) and [type(v) for v in fast] == [type(v) for v in slow]
    written = fast.to_frame().to_csv(sep=" ", header=None, index=None) == slow.to_frame().to_csv(
        sep=" ", header=None, index=None
    )
    return fast.to_numpy().tobytes() == slow.to_numpy().tobytes() and written


@settings(max_examples=600, deadline=None)
@given(st.lists(value, max_size=8), st.sampled_from(["int", "float"]), st.booleans(), st.booleans())
def test_fast_numbers_equal_the_regular_path(values, family, empty_as_string, as_arrow):
    column = pa.array(values, type=pa.string()) if as_arrow else values
    with pytest.MonkeyPatch.context() as monkeypatch:
        slow = outcome(column, family, empty_as_string, False, monkeypatch)
        fast = outcome(column, family, empty_as_string, True, monkeypatch)
    assert same(fast, slow), (values, family, fast, slow)


@pytest.mark.parametrize(
    ("values", "family"),
    [
        (["1", "-2", "9223372036854775807", "-9223372036854775808", "0"], "int"),
        (["1", None, "3"], "int"),
        (["1", "", "3"], "int"),
        (["1.5", "-2", "1e3", "0.1", "3.0", "-0.0", "1E-5"], "float"),
        (["1.5", None, ""], "float"),
    ],
)
def test_plain_columns_take_the_fast_path(values, family):
    arr = pa.array([None if v == "" else v for v in values], type=pa.string())
    assert inference.arrow_numbers(arr, family) is not None


@pytest.mark.parametrize(
    ("values", "family"),
    [
        (["+1"], "int"),
        ([" 1"], "int"),
        (["01"], "int"),
        (["-0"], "int"),
        (["0x10"], "int"),
        (["1e3"], "int"),
        (["9223372036854775808"], "int"),
        (["1", "x"], "int"),
        (["nan"], "float"),
        (["inf", "1"], "float"),
        (["1e400"], "float"),
        (["1.5", "abc"], "float"),
        ([None, None], "float"),
    ],
)
def test_the_fast_path_declines_what_the_family_reads_otherwise(values, family):
    assert inference.arrow_numbers(pa.array(values, type=pa.string()), family) is None


def test_a_value_out_of_the_family_still_makes_the_column_text():
    """The plan said int; this slice has "+1" and "01": text, as before."""
    series = inference.to_series(["1", "+1", "01"], "int", "n")
    assert series.dtype == object and list(series) == ["1", "+1", "01"]
    series = inference.to_series(["1.5", "nAn"], "float", "n")
    assert series.dtype == object and list(series) == ["1.5", "nAn"]
