"""Property tests: for random CSV / JSON lines / Parquet tables and random
mini-batch sizes, keys and row steps, the mini-batches together are exactly
the whole-table read (no row lost, none doubled, same order)."""

from __future__ import annotations

import collections
import csv
import io
import json
import math
import os
import shutil
import tempfile

import pandas
import pandas.testing
import pjob.data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that stresses CSV: delimiters, quotes, line breaks, unicode, spaces, empties
cell_text = st.text(alphabet=st.sampled_from(list("ab ,;\"\n\r\t'é漢🙂0123456789.-")), max_size=8)
cell = st.one_of(
    cell_text,
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["", "true", "False", "2020-01-02", "1", "0"]),
)


def _write_table(files: dict[str, bytes], reader_yaml: str, steps_yaml: str = "", pattern: str = "./**/*") -> str:
    root = tempfile.mkdtemp(prefix="pjob-prop-")
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
    with open(os.path.join(root, "MLTable"), "w") as fh:
        fh.write(f"paths:\n  - pattern: {pattern}\ntransformations:\n  - {reader_yaml}\n{steps_yaml}")
    return root


def _csv_bytes(header: list[str], rows: list[list[str]], trailing_newline: bool, delimiter: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    if not trailing_newline:
        text = text.rstrip("\n")
    return text.encode("utf-8")


def _assert_batches_make_the_whole(root: str, size: str, keys=None) -> None:
    plan = pjob.data.plan("mltable", root, size, keys)
    parts = [pjob.data.read_mini_batch(mb, root) for mb in plan.mini_batches]
    whole = pjob.data.read_table("mltable", root)
    if keys:
        for mb, part in zip(plan.mini_batches, parts):
            assert len(part) > 0
            for key, value in mb.key_values.items():
                assert all(_norm(v) == _norm(value) for v in part[key])
        assert _multiset(parts) == _multiset([whole])
        combos = [tuple(mb.key_values.values()) for mb in plan.mini_batches]
        assert len(set(combos)) == len(combos)
        return
    joined = pandas.concat(parts, ignore_index=True) if parts else whole.iloc[0:0]
    assert len(joined) == len(whole)
    if len(whole):
        pandas.testing.assert_frame_equal(
            joined.reset_index(drop=True), whole.reset_index(drop=True), check_dtype=False
        )
    assert list(joined.columns) == list(whole.columns) or len(whole) == 0


def _norm(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pandas.Timestamp):
        return v.isoformat()
    return v.item() if hasattr(v, "item") else v


def _multiset(frames) -> collections.Counter:
    counter: collections.Counter = collections.Counter()
    for frame in frames:
        for row in frame.itertuples(index=False):
            counter[tuple(json.dumps(_norm(v), default=str) for v in row)] += 1
    return counter


sizes = st.integers(min_value=1, max_value=3000).map(str)


@SETTINGS
@given(
    width=st.integers(1, 4),
    data=st.data(),
    n_files=st.one_of(st.integers(1, 4), st.integers(10, 30)),
    multi_line=st.booleans(),
    delimiter=st.sampled_from([",", ";", "\t"]),
    size=sizes,
)
def test_csv_mini_batches_concatenate_to_the_whole_table(width, data, n_files, multi_line, delimiter, size):
    header = [f"c{i}" for i in range(width)]
    files = {}
    for f in range(n_files):
        rows = data.draw(st.lists(st.lists(cell, min_size=width, max_size=width), max_size=25 if n_files < 10 else 3))
        empty = data.draw(st.booleans()) and f > 0
        files[f"d{f % 2}/f{f}.csv"] = b"" if empty else _csv_bytes(header, rows, data.draw(st.booleans()), delimiter)
    header_mode = data.draw(
        st.sampled_from(["all_files_same_headers", "from_first_file", "no_header", "all_files_different_headers"])
    )
    empty_as_string = data.draw(st.booleans())
    reader = (
        f"read_delimited: {{delimiter: {json.dumps(delimiter)}, support_multi_line: {str(multi_line).lower()}, "
        f"include_path_column: true, header: {header_mode}, empty_as_string: {str(empty_as_string).lower()}}}"
    )
    root = _write_table(files, reader, pattern="./**/*.csv")
    try:
        _assert_batches_make_the_whole(root, size)
    finally:
        shutil.rmtree(root)


@SETTINGS
@given(
    records=st.lists(
        st.dictionaries(
            st.sampled_from(["a", "b", "ü", "d e"]),
            st.one_of(st.none(), st.booleans(), st.integers(-10, 10), cell_text),
            max_size=4,
        ),
        max_size=40,
    ),
    n_files=st.integers(1, 3),
    trailing=st.booleans(),
    size=sizes,
)
def test_jsonl_mini_batches_concatenate_to_the_whole_table(records, n_files, trailing, size):
    files = {}
    for f in range(n_files):
        mine = records[f::n_files]
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in mine) + ("\n" if trailing and mine else "")
        files[f"f{f}.jsonl"] = text.encode("utf-8")
    root = _write_table(files, "read_json_lines: {}", pattern="./*.jsonl")
    try:
        _assert_batches_make_the_whole(root, size)
    finally:
        shutil.rmtree(root)


@SETTINGS
@given(
    n=st.lists(st.integers(0, 300), min_size=1, max_size=3),
    row_group=st.integers(1, 400),
    size=st.integers(200, 20000).map(str),
)
def test_parquet_mini_batches_concatenate_to_the_whole_table(n, row_group, size):
    import pyarrow
    import pyarrow.parquet

    root = _write_table({}, "read_parquet: {}", pattern="./*.parquet")
    try:
        start = 0
        for f, rows in enumerate(n):
            table = pyarrow.table(
                {
                    "i": list(range(start, start + rows)),
                    "s": [f"v{i}é" for i in range(rows)],
                    "x": [None if i % 7 == 0 else i * 0.5 for i in range(rows)],
                }
            )
            pyarrow.parquet.write_table(table, os.path.join(root, f"p{f}.parquet"), row_group_size=row_group)
            start += rows
        _assert_batches_make_the_whole(root, size)
    finally:
        shutil.rmtree(root)


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["x", "y", "", "z"]), st.integers(0, 3), st.integers(-100, 100)), max_size=40
    ),
    keys=st.sampled_from([["k"], ["n"], ["k", "n"], ["n", "k"]]),
    n_files=st.integers(1, 3),
    scan_bytes=st.integers(1, 300),
    steps=st.sampled_from(["", "  - skip: 3\n", "  - take: 9\n  - filter: 'col(\"v\") > -50'\n"]),
)
def test_partition_keys_give_each_row_to_exactly_one_batch(rows, keys, n_files, scan_bytes, steps):
    from pjob.data import partition

    files = {}
    for f in range(n_files):
        mine = [[k, str(n), str(v)] for k, n, v in rows[f::n_files]]
        files[f"f{f}.csv"] = _csv_bytes(["k", "n", "v"], mine, True, ",")
    root = _write_table(files, "read_delimited: {}", steps, pattern="./*.csv")
    saved, partition.SCAN_BYTES = partition.SCAN_BYTES, scan_bytes  # many chunks per file
    try:
        _assert_batches_make_the_whole(root, None, keys)
    finally:
        partition.SCAN_BYTES = saved
        shutil.rmtree(root)


@SETTINGS
@given(
    n_rows=st.lists(st.integers(0, 60), min_size=1, max_size=3),
    steps=st.lists(
        st.one_of(
            st.integers(0, 80).map(lambda n: f"  - take: {n}\n"),
            st.integers(0, 80).map(lambda n: f"  - skip: {n}\n"),
            st.tuples(st.floats(0.05, 1.0), st.integers(0, 9)).map(
                lambda t: f"  - take_random_sample: {{probability: {t[0]:.3f}, seed: {t[1]}}}\n"
            ),
            st.integers(0, 50).map(lambda n: f'  - filter: \'col("n") % 3 != 0 or col("n") > {n}\'\n'),
        ),
        max_size=4,
    ),
    size=st.integers(1, 400).map(str),
)
def test_row_steps_are_honoured_across_mini_batches(n_rows, steps, size):
    files, start = {}, 0
    for f, count in enumerate(n_rows):
        files[f"f{f}.csv"] = _csv_bytes(["n", "s"], [[str(i), f"r{i}"] for i in range(start, start + count)], True, ",")
        start += count
    root = _write_table(files, "read_delimited: {}", "".join(steps), pattern="./*.csv")
    try:
        _assert_batches_make_the_whole(root, size)
    finally:
        shutil.rmtree(root)
