"""Byte-range slices of a headered CSV: no mini-batch is empty or only the
header line, and the planned row counts that are estimates say so (the
engine replaces them with the rows actually read, tests/local)."""

from __future__ import annotations

import pjob.data
import pytest
from pjob.data import minibatch


def _table(tmp_path, text: str, header_mode: str = "all_files_same_headers", files=("a.csv",)):
    root = tmp_path / "t"
    root.mkdir()
    for name in files:
        (root / name).write_text(text)
    (root / "MLTable").write_text(
        f"paths:\n  - pattern: ./*.csv\ntransformations:\n  - read_delimited:\n      header: {header_mode}\n"
    )
    return str(root)


@pytest.mark.parametrize("header_mode", ["all_files_same_headers", "from_first_file", "all_files_different_headers"])
@pytest.mark.parametrize("size", ["1", "40", "100", "130"])
def test_no_mini_batch_is_empty_or_only_the_header(tmp_path, header_mode, size):
    header = ",".join(f"a_rather_long_column_name_{i}" for i in range(4))  # ~120 bytes
    rows = [f"{i},{i * 2},x{i},{'y' * (i % 5)}" for i in range(30)]
    root = _table(tmp_path, header + "\n" + "\n".join(rows) + "\n", header_mode, files=("a.csv", "b.csv"))
    plan = pjob.data.plan("mltable", root, size, None)
    frames = [pjob.data.read_mini_batch(mb, str(tmp_path)) for mb in plan.mini_batches]
    assert [len(f) for f in frames if len(f) == 0] == []
    assert sum(len(f) for f in frames) == len(pjob.data.read_table("mltable", root))


def test_blank_lines_after_the_header_do_not_make_an_empty_mini_batch(tmp_path):
    root = _table(tmp_path, "name,value\n\n\n\n" + "".join(f"n{i},{i}\n" for i in range(10)))
    plan = pjob.data.plan("mltable", root, "5", None)
    assert all(len(pjob.data.read_mini_batch(mb, str(tmp_path))) for mb in plan.mini_batches)


def test_byte_range_row_counts_are_marked_as_estimates(tmp_path):
    rows = [f"{i},s" for i in range(50)] + [f"{i},{'long' * 30}" for i in range(50)]
    root = _table(tmp_path, "id,text\n" + "\n".join(rows) + "\n")
    plan = pjob.data.plan("mltable", root, "1kb", None)
    assert len(plan.mini_batches) > 2
    assert all(minibatch.items_estimated(mb) for mb in plan.mini_batches)
    parquet_like = minibatch.MiniBatch(index=0, kind="table", items=3, path="x.parquet", row_groups=[0])
    assert not minibatch.items_estimated(parquet_like)
    assert not minibatch.items_estimated(minibatch.MiniBatch(index=0, kind="files", items=2, paths=["a", "b"]))
