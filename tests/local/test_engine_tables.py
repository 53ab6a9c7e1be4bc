"""Tabular inputs through the engine: DataFrame mini-batches (MLTable +
read_delimited), DataFrame returns in Azure's append_row format, partition
keys in the context, and the files-only guarantee (no pandas/pyarrow in a
files job's agent)."""

from __future__ import annotations

import os
import subprocess
import sys

import engine_support as es
import pandas as pd
from pjob.local import parallel_step

MLTABLE = """\
paths:
  - file: ./table.csv
transformations:
  - read_delimited:
      delimiter: ','
      header: all_files_same_headers
"""

SCRIPT = """
import pandas as pd
def run(mini_batch, ctx):
    assert isinstance(mini_batch, pd.DataFrame), type(mini_batch)
    out = mini_batch.copy()
    out["score"] = out["x"] * 2
    out["mb"] = ctx.minibatch_index
    out["key"] = str(sorted(ctx.partition_key_value.items()))
    return out[["name", "score", "key"]]
"""


def _table_task(tmp_path, **kw):
    folder = tmp_path / "table"
    folder.mkdir()
    df = pd.DataFrame({"name": [f"n{i}" for i in range(40)], "x": range(40), "g": [i % 3 for i in range(40)]})
    df.to_csv(folder / "table.csv", index=False)
    (folder / "MLTable").write_text(MLTABLE)
    task = es.make_task(tmp_path, SCRIPT, n_files=0, input_type="mltable", input_uri=str(folder), **kw)
    return task, df


def test_table_mini_batches_rows_in_order(tmp_path):
    task, df = _table_task(tmp_path, mini_batch_size="120")  # ~120 bytes per mini-batch: several slices
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded", es.read(result.job_result)
    assert result.counters.total > 2 and result.counters.items_succeeded == 40
    expected = pd.DataFrame({"name": df["name"], "score": df["x"] * 2, "key": "[]"})
    assert es.read(task.append_row_to) == expected.to_csv(sep=" ", header=None, index=None)


def test_partition_keys_context_and_header(tmp_path):
    task, df = _table_task(
        tmp_path, mini_batch_size=None, partition_keys=["g"], flags={"append_row_dataframe_header": True}
    )
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded", es.read(result.job_result)
    assert result.counters.total == 3
    lines = es.read(task.append_row_to).splitlines()
    assert lines[0] == "name score key"
    assert len(lines) == 41
    for line in lines[1:]:
        name, score, key = line.split(" ", 2)
        i = int(name[1:])
        assert int(score) == 2 * i and key == f"\"[('g', {i % 3})]\""


def test_files_job_processes_never_import_pandas():
    code = (
        "import sys; import pjob.local.launch, pjob.engine.worker, pjob.engine.agent, pjob.local.parallel_step; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('pandas', 'pyarrow')]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_task_overhead_timeout_kills_a_hanging_load(tmp_path):
    """A mini-batch whose data cannot be loaded (its file is a FIFO nobody
    writes: open() blocks) is killed after --task_overhead_timeout and
    counted as a failed attempt (LOAD_TIMEOUT); the others succeed."""
    import csv

    import pjob.data
    from pjob.engine import manifest

    task, df = _table_task(tmp_path, mini_batch_size="120", max_retries=0, flags={"task_overhead_timeout": 1})
    plan = pjob.data.plan(task.input_type, task.input_uri, task.mini_batch_size, None)
    fifo = str(tmp_path / "table" / "fifo.csv")
    os.mkfifo(fifo)
    plan.mini_batches[1].path = fifo
    os.makedirs(task.work_dir, exist_ok=True)
    manifest.write(plan, manifest.path_in(task.work_dir))  # the driver reuses an existing plan
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded", es.read(result.job_result)
    assert result.counters.failed == 1 and result.counters.done == len(plan.mini_batches) - 1
    with open(os.path.join(task.logs_dir, "sys/job_report/processed_mini-batches.csv")) as f:
        rows = {r["mini_batch_id"]: r["status"] for r in csv.DictReader(f)}
    assert rows["1"] == "LOAD_TIMEOUT" and rows["0"] == "RUN_DONE"
    assert result.elapsed < 15
