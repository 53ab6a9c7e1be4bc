"""engine.frametext writes a frame's rows in blocks of ``BLOCK_ROWS`` (a
block's Arrow arrays, not a huge frame's, are alive at once; a 10 MB
mini-batch is one block); with blocks of a few rows the text must still be
``to_csv``'s, in particular a datetime column's format, which pandas chooses
over the whole column (dates only, or as many fractional digits as the
finest value needs)."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pjob.engine import frametext
from test_frametext import expected, frames


@settings(max_examples=400, deadline=None)
@given(frames())
def test_blocks_of_a_few_rows_write_the_same_text(frame):
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(frametext, "BLOCK_ROWS", 3)
        fast = frametext.rows_text(frame)
    if fast is not None:
        assert fast == expected(frame)


def test_a_datetime_format_is_the_whole_columns(monkeypatch):
    """The first block is all midnights and whole seconds, a later one is not."""
    monkeypatch.setattr(frametext, "BLOCK_ROWS", 2)
    stamps = ["2024-01-01", "2024-01-02", "2024-01-03 04:05:06.000007", None, "1999-12-31"]
    frame = pd.DataFrame({"a": range(5), "b": pd.to_datetime(stamps, format="ISO8601").astype("datetime64[ns]")})
    assert frametext.rows_text(frame) == expected(frame)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.integers(0, 2**64 - 1).map(lambda bits: struct.unpack("<d", struct.pack("<Q", bits))[0])
        | st.floats(width=64)
        | st.floats(-1e6, 1e6).map(lambda f: round(f, 4))
        | st.sampled_from([0.0, -0.0, 1.0, 100.0, 1e16, 1e16 - 2, 1e-4, 9.9999e-5, 2.0**53, 1e22, 5e-324]),
        min_size=1,
        max_size=40,
    )
)
def test_floats_are_reprs_as_to_csv_writes_them(values):
    """Arrow writes float64 columns (same shortest digits as repr, positional
    range and the ".0" of whole numbers fixed up); any 64-bit pattern."""
    frame = pd.DataFrame({"a": np.array(values, dtype="float64"), "b": np.arange(len(values))})
    assert frametext.rows_text(frame) == expected(frame)
