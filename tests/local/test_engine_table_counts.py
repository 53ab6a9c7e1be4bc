"""Item counts of table mini-batches that fail, through real agents and
workers: a byte range's planned row count is an estimate, and a partition
key read from folder names has none; a mini-batch that raises or times out
counts the rows it actually held (the worker reports them once loaded), in
the counters, the job report and the summary of items not in the output."""

from __future__ import annotations

import csv
import os

import engine_support as es
import pandas as pd
import pjob.data
from pjob.local import parallel_step

RAISE_OR_HANG = """
import os, time
def run(mini_batch, ctx):
    first = str(mini_batch.iloc[0, 0])
    key = ctx.partition_key_value.get("store")
    if key == "a" or first in os.environ.get("RAISE_ON", "").split(","):
        raise ValueError(f"cannot score {first}")
    if key == "b":
        time.sleep(60)
    return mini_batch
"""


def _report_rows(task):
    with open(os.path.join(task.logs_dir, "sys/job_report/processed_mini-batches.csv"), newline="") as f:
        return list(csv.DictReader(f))


def test_a_failed_byte_range_counts_the_rows_it_held_not_the_estimate(tmp_path):
    folder = tmp_path / "table"
    folder.mkdir()
    rows = [f"s{i},1" for i in range(60)] + [f"l{i},{'long' * 40}" for i in range(60)]  # estimates are off both ways
    (folder / "t.csv").write_text("name,text\n" + "\n".join(rows) + "\n")
    (folder / "MLTable").write_text("paths:\n  - file: ./t.csv\ntransformations:\n  - read_delimited: {}\n")
    plan = pjob.data.plan("mltable", str(folder), "600", None)
    actual = [len(pjob.data.read_mini_batch(mb, str(tmp_path))) for mb in plan.mini_batches]
    assert [mb.items for mb in plan.mini_batches] != actual  # the fixture makes the estimates wrong
    failing = [0, len(actual) - 1]
    firsts = [str(pjob.data.read_mini_batch(plan.mini_batches[i], str(tmp_path)).iloc[0, 0]) for i in failing]
    task = es.make_task(
        tmp_path,
        RAISE_OR_HANG,
        n_files=0,
        input_type="mltable",
        input_uri=str(folder),
        mini_batch_size="600",
        max_retries=0,
        env={"RAISE_ON": ",".join(firsts)},
    )
    result = parallel_step.run_parallel_step(task)
    c = result.counters
    assert (c.failed, c.items_failed, c.items_succeeded) == (
        2,
        sum(actual[i] for i in failing),
        sum(actual) - sum(actual[i] for i in failing),
    )
    report = {int(r["mini_batch_id"]): int(r["total_items"]) for r in _report_rows(task)}
    assert report == dict(enumerate(actual))


def test_partition_key_batches_that_raise_or_time_out_count_their_rows(tmp_path):
    folder = tmp_path / "sales"
    sizes = {"a": 7, "b": 5, "c": 3}
    for store, n in sizes.items():
        (folder / store).mkdir(parents=True)
        pd.DataFrame({"week": range(n), "qty": range(n)}).to_csv(folder / store / "part.csv", index=False)
    (folder / "MLTable").write_text(
        "paths:\n  - pattern: ./*/*.csv\ntransformations:\n  - read_delimited: {}\n"
        "  - extract_columns_from_partition_format:\n      partition_format: /{store}/part.csv\n"
    )
    task = es.make_task(
        tmp_path,
        RAISE_OR_HANG,
        n_files=0,
        input_type="mltable",
        input_uri=str(folder),
        mini_batch_size=None,
        partition_keys=["store"],
        max_retries=0,
        timeout=2.0,
    )
    result = parallel_step.run_parallel_step(task)
    c = result.counters
    assert (c.failed, c.items_failed, c.items_succeeded) == (2, sizes["a"] + sizes["b"], sizes["c"])
    rows = {
        int(r["mini_batch_id"]): (r["status"], int(r["total_items"]), int(r["failed_items"]))
        for r in _report_rows(task)
    }
    assert rows == {0: ("RUN_EXCEPTION", 7, 7), 1: ("RUN_TIMEOUT", 5, 5), 2: ("RUN_DONE", 3, 0)}
