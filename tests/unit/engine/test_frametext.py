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


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 6).flatmap(lambda n: st.tuples(column("datetime", n), column("int", n))))
def test_datetimes_without_pyarrow_are_the_same(columns):
    frame = pd.DataFrame({"d": columns[0], "i": columns[1]})
    import sys

    saved = sys.modules.get("pyarrow")
    sys.modules["pyarrow"] = None  # import pyarrow raises ImportError: the numpy path
    try:
        fast = frametext.rows_text(frame)
    finally:
        sys.modules["pyarrow"] = saved
    assert fast == expected(frame)
