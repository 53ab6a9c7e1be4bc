"""engine.frametext writes a DataFrame's append_row text byte for byte like
``to_csv(sep=" ", header=None, index=None)``, or declines (None)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pjob.engine import frametext, results

TEXT = st.text(alphabet=st.sampled_from(list("ab Z\"\n\r,\t'é0-.") + ["\u2028", "\x00"]), max_size=6)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(
    [0.0, -0.0, 1e16, 1e15, 1e-5, 0.1, 5e-324, 123456789.0, 2.0**53, float("nan")]
)


def column(kind: str, n: int):
    if kind == "int":
        return st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n).map(
            lambda v: np.array(v, dtype="int64")
        )
    if kind == "uint":
        return st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n).map(lambda v: np.array(v, dtype="uint64"))
    if kind == "int32":
        return st.lists(st.integers(-(2**31), 2**31 - 1), min_size=n, max_size=n).map(
            lambda v: np.array(v, dtype="int32")
        )
    if kind == "float":
        return st.lists(FLOATS, min_size=n, max_size=n).map(lambda v: np.array(v, dtype="float64"))
    if kind == "float32":
        return st.lists(st.floats(width=32), min_size=n, max_size=n).map(lambda v: np.array(v, dtype="float32"))
    if kind == "bool":
        return st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: np.array(v, dtype="bool"))
    if kind == "str":
        return st.lists(TEXT | st.none() | st.just(float("nan")), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="object")
        )
    if kind in ("string", "string[python]"):
        return st.lists(TEXT | st.none(), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=kind))
    if kind == "mixed":
        return st.lists(TEXT | st.integers(-5, 5) | st.floats(width=64) | st.none(), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="object")
        )
    if kind == "datetime":  # any microsecond; whole seconds; dates only; nanoseconds
        moments = st.datetimes(
            min_value=pd.Timestamp("1900-01-01").to_pydatetime(), max_value=pd.Timestamp("2200-01-01").to_pydatetime()
        )
        moment = st.sampled_from(
            [
                lambda d: d,
                lambda d: d.replace(microsecond=0),
                lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000),
                lambda d: d.replace(hour=0, minute=0, second=0, microsecond=0),
            ]
        )
        nanos = st.integers(0, 999) | st.just(0)
        return st.tuples(st.lists(moments | st.none(), min_size=n, max_size=n), moment, nanos).map(
            lambda t: pd.Series(
                [
                    None if d is None else pd.Timestamp(t[1](d)) + pd.Timedelta(t[2], "ns") * (i % 2)
                    for i, d in enumerate(t[0])
                ],
                dtype="datetime64[ns]",
            )
        )
    if kind == "nullable":
        return st.lists(st.integers(-9, 9) | st.none(), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="Int64")
        )
    if kind == "category":
        return st.lists(TEXT, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="category"))
    raise AssertionError(kind)


KINDS = [
    "int",
    "uint",
    "int32",
    "float",
    "float32",
    "bool",
    "str",
    "string",
    "string[python]",
    "mixed",
    "datetime",
    "nullable",
    "category",
]


@st.composite
def frames(draw):
    n = draw(st.integers(0, 8))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    data = {f"c{i}": draw(column(kind, n)) for i, kind in enumerate(kinds)}
    return pd.DataFrame(data)


def expected(frame) -> str:
    return frame.to_csv(sep=" ", header=None, index=None)


@settings(max_examples=600, deadline=None)
@given(frames())
def test_fast_text_is_to_csv_or_declines(frame):
    fast = frametext.rows_text(frame)
    if fast is not None:
        assert fast == expected(frame)
    assert results.format_returns(frame)[2] == expected(frame).encode("utf-8")


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1, 2], "b": [0.5, float("nan")], "c": ["x y", 'q"uote'], "d": [True, False]}),
        pd.DataFrame({"a": np.arange(5, dtype="int64"), "b": [None, "", "a\nb", " ", "plain"]}),
        pd.DataFrame({"a": [1e16, 1e15, 1e-5, -0.0, math.inf], "b": [-math.inf, 0.1, 0.30000000000000004, 2.0, 3.5]}),
        pd.DataFrame(
            {"a": [1, 2, 3], "b": pd.to_datetime(["2024-01-01", None, "1969-12-31"]).astype("datetime64[ns]")}
        ),
        pd.DataFrame(
            {
                "a": [1, 2],
                "b": pd.to_datetime(["2024-01-01 00:00:00.5", "1960-01-01 01:02:03"], format="ISO8601").astype(
                    "datetime64[ns]"
                ),
            }
        ),
    ],
)
def test_plain_frames_take_the_fast_path(frame):
    assert frametext.rows_text(frame) == expected(frame)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1, 2]}),  # one column: the csv module quotes a lone empty field
        pd.DataFrame({"a": [1, 2], "b": ["x\ry", "z"]}),  # a carriage return: quoting differs across Python versions
        pd.DataFrame({"a": [1, 2], "b": pd.to_datetime(["2024-01-01", None]).tz_localize("UTC")}),
        pd.DataFrame({"a": [1, 2], "b": pd.Series([1, None], dtype="Int64")}),
        pd.DataFrame({"a": [1, 2], "b": [1, "x"]}),
        pd.DataFrame({"a": [1, 2], "b": np.array([0.1, 0.2], dtype="float32")}),
    ],
)
def test_other_frames_decline(frame):
    assert frametext.rows_text(frame) is None


FAST_KINDS = ["int", "uint", "int32", "float", "bool", "str", "string", "string[python]", "datetime"]


@st.composite
def plain_frames(draw):
    """Frames of the dtypes the fast path takes, with no carriage return."""
    n = draw(st.integers(0, 12))
    kinds = draw(st.lists(st.sampled_from(FAST_KINDS), min_size=2, max_size=6))
    data = {f"c{i}": draw(column(kind, n)) for i, kind in enumerate(kinds)}
    frame = pd.DataFrame(data)
    return frame.replace("\r", "", regex=True) if n else frame


@settings(max_examples=400, deadline=None)
@given(plain_frames())
def test_plain_frames_are_written_fast_and_the_same(frame):
    assert frametext.rows_text(frame) == expected(frame)


@settings(max_examples=200, deadline=None)
@given(plain_frames() | frames())
def test_the_same_in_blocks(frame):
    saved = frametext.BLOCK_ROWS
    frametext.BLOCK_ROWS = 3  # a block's quoting and ".0" may differ from the next one's
    try:
        fast = frametext.rows_text(frame)
    finally:
        frametext.BLOCK_ROWS = saved
    if fast is not None:
        assert fast == expected(frame)


def without_pyarrow(frame):
    import sys

    saved = sys.modules.get("pyarrow")
    sys.modules["pyarrow"] = None  # import pyarrow raises ImportError: the Python path
    try:
        return frametext.rows_text(frame)
    finally:
        sys.modules["pyarrow"] = saved


@settings(max_examples=300, deadline=None)
@given(plain_frames() | frames())
def test_without_pyarrow_the_same(frame):
    fast = without_pyarrow(frame)
    if fast is not None:
        assert fast == expected(frame)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 6).flatmap(lambda n: st.tuples(column("datetime", n), column("int", n))))
def test_datetimes_without_pyarrow_are_the_same(columns):
    frame = pd.DataFrame({"d": columns[0], "i": columns[1]})
    assert without_pyarrow(frame) == expected(frame)


MAGNITUDES = [
    0.0,
    -0.0,
    1e16,
    -1e16,
    1e15,
    9999999999999998.0,
    1e-4,
    9.99e-5,
    1e-5,
    1.2345e-5,
    1.5e16,
    5e-324,
    1.7976931348623157e308,
]
EDGE_COLUMNS = {
    "floats": MAGNITUDES + [math.nan, math.inf, -math.inf, 2.0, -3.0, 0.1, 1 / 3, 123456789.125, 2.0**53, 2.0**60],
    "whole": [float(i) for i in range(-10, 10)],
    "few whole": [i + 0.5 if i % 7 else float(i) for i in range(40)],
    "ints": [-(2**63), 2**63 - 1, 0, -1, 10**18],
    "bools": [True, False, True],
    "text": ["plain", "", "two words", 'a "q"', '"', "line\nfeed", " ", "é ü", None, float("nan"), "\x00", "\u2028"],
    "all quoted": ["a b", "c d", '"'],
    "quoted and null": ["a b", None, "c d"],
    "all null": [None, None, float("nan")],
    "all empty": ["", "", ""],
    "stamps": pd.to_datetime(["2024-01-01 10:00:00.000001", None, "1677-09-22"], format="ISO8601").astype(
        "datetime64[ns]"
    ),
    "dates": pd.to_datetime(["2024-01-01", None, "2262-04-11"]).astype("datetime64[ns]"),
}
TEXTUAL = ("text", "all quoted", "quoted and null", "all null", "all empty")


@pytest.mark.parametrize("name", sorted(EDGE_COLUMNS))
@pytest.mark.parametrize("other", ["first", "last"])
def test_edge_columns(name, other):
    values = EDGE_COLUMNS[name]
    col = pd.Series(values, dtype="object") if name in TEXTUAL else values
    ids = np.arange(len(values), dtype="int64")
    frame = pd.DataFrame({"i": ids, "v": col} if other == "first" else {"v": col, "i": ids})
    assert frametext.rows_text(frame) == expected(frame)
    assert without_pyarrow(frame) == expected(frame)
    for dtype in ("string", "str"):
        if name in TEXTUAL:
            typed = frame.assign(v=pd.Series([None if v != v else v for v in values], dtype=dtype))
            assert frametext.rows_text(typed) == expected(typed)


def test_a_large_frame_of_every_magnitude():
    rng = np.random.default_rng(15)
    n = 5000
    floats = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-30, 30, n)
    floats[::3] = np.round(floats[::3])
    floats[::11] = np.nan
    words = np.array(["a", "b c", 'd"e', "", "f\ng", "h"], dtype=object)[rng.integers(0, 6, n)]
    frame = pd.DataFrame(
        {
            "i": rng.integers(-(2**62), 2**62, n),
            "f": floats,
            "w": words,
            "b": rng.integers(0, 2, n).astype(bool),
            "d": pd.Series(rng.integers(0, 10**18, n)).astype("datetime64[ns]"),
        }
    )
    assert frametext.rows_text(frame) == expected(frame)
