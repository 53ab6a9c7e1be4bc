"""Resume after kill -9, --retry-failed and --fresh: no finished mini-batch
runs twice and the final output is byte-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import engine_support as es
import pytest
from pjob.engine import results
from pjob.local import parallel_step

SCRIPT = """
import os, time, uuid
MARK = os.environ["MARK_DIR"]
def run(mini_batch, ctx):
    i = ctx.minibatch_index
    open(os.path.join(MARK, f"{i}.{uuid.uuid4().hex}"), "w").close()
    if os.path.exists(os.environ.get("FAIL_FLAG", "/nonexistent")) and i in (1, 4):
        raise RuntimeError("flaky dependency")
    time.sleep(float(os.environ.get("SLEEP", "0")))
    return [f"{os.path.basename(p)} done" for p in mini_batch]
"""

LAUNCHER = (
    "import sys; from pjob.engine.task import ParallelTask; from pjob.local import parallel_step; "
    "parallel_step.run_parallel_step(ParallelTask.from_json(open(sys.argv[1]).read()))"
)


def _runs(mark) -> dict[int, int]:
    counts: dict[int, int] = {}
    for name in os.listdir(mark):
        i = int(name.split(".")[0])
        counts[i] = counts.get(i, 0) + 1
    return counts


@pytest.mark.parametrize("kill_group", [True, False], ids=["kill-whole-run", "kill-driver-only"])
def test_kill_9_then_resume(tmp_path, kill_group):
    mark = tmp_path / "marks"
    mark.mkdir()
    n = 40
    task = es.make_task(
        tmp_path, SCRIPT, n_files=n, mini_batch_size="1", env={"MARK_DIR": str(mark), "SLEEP": "0.03"}, instance_count=2
    )
    task_file = tmp_path / "task.json"
    task_file.write_text(task.to_json())
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(task_file)], start_new_session=True)
    deadline = time.time() + 30
    while len(os.listdir(mark)) < 12 and time.time() < deadline:
        time.sleep(0.01)
    if kill_group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if not kill_group:  # agents notice the driver is gone and stop by themselves
        time.sleep(1.0)
    committed = results.committed_indexes(os.path.join(task.work_dir, "parts"))
    assert 0 < len(committed) < n
    assert not os.path.exists(task.append_row_to)

    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded", es.read(result.job_result)
    expected = "".join(f"f{i:04d}.txt done\n" for i in range(n))
    assert es.read(task.append_row_to) == expected
    runs = _runs(mark)
    assert sorted(runs) == list(range(n))
    assert all(runs[i] == 1 for i in committed), {i: runs[i] for i in committed if runs[i] != 1}
    assert result.counters.done == n and result.counters.items_succeeded == n


def test_committed_parts_are_adopted_not_rerun(tmp_path):
    """A part file is the commit record: if the queue lost the outcome (agent
    killed before its batched write), the next run adopts the part."""
    mark = tmp_path / "marks"
    mark.mkdir()
    task = es.make_task(tmp_path, SCRIPT, n_files=6, mini_batch_size="2", env={"MARK_DIR": str(mark)})
    assert parallel_step.run_parallel_step(task).status == "Succeeded"
    output = es.read(task.append_row_to)
    os.unlink(os.path.join(task.work_dir, "queue.db"))  # forget every outcome
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded" and result.counters.items_succeeded == 6
    assert _runs(mark) == {0: 1, 1: 1, 2: 1}
    assert es.read(task.append_row_to) == output
    report = es.read(os.path.join(task.logs_dir, "sys/job_report/processed_mini-batches.csv"))
    assert report.count("ADOPTED") == 3


def test_retry_failed_and_fresh(tmp_path):
    mark = tmp_path / "marks"
    mark.mkdir()
    flag = tmp_path / "fail.flag"
    flag.write_text("x")
    task = es.make_task(
        tmp_path,
        SCRIPT,
        n_files=12,
        mini_batch_size="2",
        max_retries=0,
        env={"MARK_DIR": str(mark), "FAIL_FLAG": str(flag)},
    )
    first = parallel_step.run_parallel_step(task)
    assert first.status == "Succeeded" and first.counters.failed == 2
    partial = es.read(task.append_row_to)
    assert "f0002.txt" not in partial and "f0008.txt" not in partial
    flag.unlink()

    again = parallel_step.run_parallel_step(task)  # resume of a finished run: nothing re-runs
    assert again.counters.failed == 2 and sum(_runs(mark).values()) == 6
    assert es.read(task.append_row_to) == partial

    retried = parallel_step.run_parallel_step(task, retry_failed=True)
    assert retried.status == "Succeeded" and retried.counters.failed == 0
    runs = _runs(mark)
    assert runs == {0: 1, 1: 2, 2: 1, 3: 1, 4: 2, 5: 1}
    expected = "".join(f"f{i:04d}.txt done\n" for i in range(12))
    assert es.read(task.append_row_to) == expected

    fresh = parallel_step.run_parallel_step(task, fresh=True)
    assert fresh.status == "Succeeded" and fresh.counters.attempts == 6
    assert sum(_runs(mark).values()) == 14
    assert es.read(task.append_row_to) == expected
