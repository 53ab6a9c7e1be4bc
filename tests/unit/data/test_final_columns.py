"""data.tables.final_columns answers without pandas when the table has no
step, no path column and no type override; the answer must be the one the
empty-frame path gives (which the other tables keep using)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pjob.data import inference, mltable, tables


def by_empty_frame(table, schema):
    """final_columns as it is computed with steps: an empty frame of the schema."""
    frame = tables._empty_frame(table, schema)
    families = dict((n, f) for n, f in schema)
    return [
        (str(c), families.get(c, "string") if frame[c].dtype == object else inference.family_of_dtype(frame[c].dtype))
        for c in frame.columns
    ]


def delimited(**reader):
    doc = {"paths": [{"file": "./a.csv"}], "transformations": [{"read_delimited": {"delimiter": ",", **reader}}]}
    return mltable.parse(doc, base="/nowhere")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(alphabet="abcXYZ_ 1é", min_size=1, max_size=4), st.sampled_from(inference.FAMILIES)),
        max_size=6,
        unique_by=lambda c: c[0],
    )
)
def test_columns_without_steps_equal_the_empty_frame_path(columns):
    table = delimited()
    schema = [[name, family] for name, family in columns]
    assert tables.final_columns(table, schema, {}, []) == by_empty_frame(table, schema)


@pytest.mark.parametrize("reader", [{"include_path_column": True}, {}])
def test_a_path_column_or_a_step_still_goes_through_the_frame(reader):
    table = delimited(**reader)
    if not reader:
        table.steps = [{"name": "drop_columns", "args": {"columns": ["b"]}}]
    schema = [["a", "int"], ["b", "string"]]
    assert tables.final_columns(table, schema, {}, ["/nowhere/a.csv"]) == [
        c for c in by_empty_frame(table, schema) if not table.steps or c[0] != "b"
    ]
