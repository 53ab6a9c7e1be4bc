"""data.inference parses the common zero-padded ISO datetimes with Arrow's
cast (``arrow_datetimes``); whatever it accepts must come out exactly as the
pandas path makes it, and whatever pandas refuses it must leave to pandas."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pjob.data import inference


def digits(lo: int, hi: int, width: int):
    return st.integers(lo, hi).map(lambda v: str(v).zfill(width)) | st.integers(lo, hi).map(str)


@st.composite
def stamps(draw):
    text = draw(digits(1600, 2300, 4)) + draw(st.sampled_from("-/")) + draw(digits(0, 13, 2))
    text += draw(st.sampled_from("-/")) + draw(digits(0, 32, 2))
    if draw(st.booleans()):
        text += draw(st.sampled_from("T ")) + draw(digits(0, 25, 2)) + ":" + draw(digits(0, 61, 2))
        if draw(st.booleans()):
            text += ":" + draw(digits(0, 61, 2))
            if draw(st.booleans()):
                text += "." + draw(st.text(alphabet="0123456789", min_size=1, max_size=9))
    if draw(st.integers(0, 5)) == 0:
        text += "Z"
    if draw(st.integers(0, 5)) == 0:
        text = " " + text
    return text


def outcome(values, fast: bool, monkeypatch):
    if not fast:
        monkeypatch.setattr(inference, "arrow_datetimes", lambda text: None)
    try:
        return inference.to_series(values, "datetime", "d")
    except Exception as exc:
        return type(exc).__name__
    finally:
        monkeypatch.undo()


@settings(max_examples=400, deadline=None)
@given(st.lists(stamps() | st.none() | st.just(""), max_size=6))
def test_fast_datetimes_equal_the_pandas_path(values):
    with pytest.MonkeyPatch.context() as monkeypatch:
        slow = outcome(values, False, monkeypatch)
        fast = outcome(values, True, monkeypatch)
    if isinstance(slow, pd.Series):
        assert isinstance(fast, pd.Series) and fast.dtype == slow.dtype and fast.equals(slow), (values, fast, slow)
    else:
        assert fast == slow, (values, fast, slow)


@pytest.mark.parametrize(
    "values",
    [["2024-01-02", "1999-12-31 23:59:59.123456", None, "2000-02-29T01:02"], ["1677-09-22", "2262-04-11 00:00:00"]],
)
def test_zero_padded_iso_takes_the_fast_path(values):
    import pyarrow

    assert inference.arrow_datetimes(pyarrow.array(values, type=pyarrow.string())) is not None


@pytest.mark.parametrize(
    "values",
    [
        ["2024-1-02"],
        ["2024/01/02"],
        ["2024-01-02Z"],
        [" 2024-01-02"],
        ["2024-01-02 00:00:00.1234567"],
        ["1600-01-01"],
        ["2300-01-01"],
        [None],
    ],
)
def test_other_texts_go_the_regular_way(values):
    import pyarrow

    assert inference.arrow_datetimes(pyarrow.array(values, type=pyarrow.string())) is None


ISO_SHAPES = [
    "0000-00-00",
    "0000-00-00T00:00",
    "0000-00-00 00:00:00",
    "0000-00-00 00:00:00.",
    "0000-00-00 00:00:00.0",
    "0000-00-00T00:00:00.000",
    "0000-00-00 00:00:00.000000",
    "0000-00-00 00:00:00.0000000",
    "0000/00/00",
    "00000-00-00",
    "0000-00-00 00",
]


@st.composite
def same_width_texts(draw):
    """Values of one length, from one ISO-like shape ('0': any digit), some
    with one character changed."""
    shape = draw(st.sampled_from(ISO_SHAPES))
    values = []
    for _ in range(draw(st.integers(1, 6))):
        chars = [draw(st.sampled_from("0123456789")) if c == "0" else c for c in shape]
        if draw(st.integers(0, 3)) == 0:
            chars[draw(st.integers(0, len(chars) - 1))] = draw(st.sampled_from(list("0123456789-:T ./Z\x00é")))
        values.append("".join(chars))
    return values


@settings(max_examples=500, deadline=None)
@given(same_width_texts() | st.lists(stamps(), min_size=1, max_size=6))
def test_the_fixed_width_check_is_the_regex(values):
    import pyarrow
    import pyarrow.compute as pc

    whole = pyarrow.array(values, type=pyarrow.string())
    regex = pc.all(pc.match_substring_regex(whole, inference._ARROW_ISO)).as_py()
    for text in (whole, pyarrow.array(["x", *values]).slice(1)):
        iso = inference.fixed_width_iso(text)
        assert iso is None or iso == regex, (values, iso, regex)


@pytest.mark.parametrize(
    "values, iso",
    [
        (["2024-01-02", "1999-12-31"], True),
        (["2024-01-02 10:11:12.123456", "2024-01-02T10:11:12.000001"], True),
        (["2024-01-02", "2024-01-0x"], False),
        (["2024/01/02"], False),
        (["2024-01-02 10:11:12.1234567"], False),
        (["2024-01-02", "2024-01-02 10:11"], None),  # lengths differ: the regex decides
        (["2024-01-02", None], None),
    ],
)
def test_fixed_width_check_decides_columns_of_one_length(values, iso):
    import pyarrow

    assert inference.fixed_width_iso(pyarrow.array(values, type=pyarrow.string())) is iso


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab\n é", max_size=4), max_size=6), st.integers(0, 6))
def test_holds_answers_as_the_kernel(values, cut):
    import pyarrow

    expected = any("\n" in v for v in values)
    whole = pyarrow.array(values, type=pyarrow.string())
    assert inference.holds(whole, "\n") is expected
    chunks = [pyarrow.array(values[:cut], type=pyarrow.string()), pyarrow.array(values[cut:], type=pyarrow.string())]
    assert inference.holds(pyarrow.chunked_array(chunks), "\n") is expected
    if not expected:  # the bytes of other rows around a slice do not count
        assert inference.holds(pyarrow.array(["\n", *values, "\n"]).slice(1, len(values)), "\n") is False
