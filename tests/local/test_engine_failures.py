"""Failure rules (docs/writing-jobs.md, "When does a job fail?") through real agents, workers and entry
scripts: retries of crashes/exceptions/timeouts, short returns, thresholds,
init failures, the timeouts of the runtime flags."""

from __future__ import annotations

import csv
import json
import os

import engine_support as es
import pytest
from pjob.local import parallel_step

# A script whose behaviour per mini-batch is driven by env vars; it leaves a
# marker file per run() call: <index>.<attempt-ish uuid>
SCRIPT = """
import os, time, uuid, signal, ctypes
MARK = os.environ["MARK_DIR"]
def init():
    if os.environ.get("INIT_FAIL"):
        raise RuntimeError("cannot load the model")
    time.sleep(float(os.environ.get("INIT_SLEEP", "0")))

def run(mini_batch, ctx):
    i = ctx.minibatch_index
    first = not any(n.startswith(f"{i}.") for n in os.listdir(MARK))
    open(os.path.join(MARK, f"{i}.{uuid.uuid4().hex}"), "w").close()
    bad = int(os.environ.get("BAD", "-1"))
    mode = os.environ.get("MODE", "")
    if i == bad:
        if mode == "exit_first" and first:
            os._exit(7)
        if mode == "sigkill_first" and first:
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "segfault_first" and first:
            ctypes.string_at(0)
        if mode == "raise":
            raise ValueError(f"bad input in mini-batch {i}")
        if mode == "hang_first" and first:
            time.sleep(60)
        if mode == "hang":
            time.sleep(60)
        if mode == "short":
            return [os.path.basename(mini_batch[0])]
        if mode == "more":
            return [os.path.basename(p) for p in mini_batch] * 2
        if mode == "none":
            return []
    return [os.path.basename(p) for p in mini_batch]
"""

ALL_ROWS = "".join(f"f{i:04d}.txt\n" for i in range(12))


def _task(tmp_path, env, **kw):
    mark = tmp_path / "marks"
    mark.mkdir(exist_ok=True)
    return es.make_task(tmp_path, SCRIPT, env={"MARK_DIR": str(mark), **env}, **kw), str(mark)


def _report_rows(task):
    with open(os.path.join(task.logs_dir, "sys/job_report/processed_mini-batches.csv")) as f:
        return list(csv.DictReader(f))


def _runs_of(mark, index):
    return sum(1 for n in os.listdir(mark) if n.startswith(f"{index}."))


@pytest.mark.parametrize(
    "mode,status", [("exit_first", "WORKER_DIED"), ("sigkill_first", "WORKER_DIED"), ("segfault_first", "WORKER_DIED")]
)
def test_dead_worker_is_retried_and_output_complete(tmp_path, mode, status):
    task, mark = _task(tmp_path, {"BAD": "2", "MODE": mode})
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded", es.read(result.job_result)
    assert es.read(task.append_row_to) == ALL_ROWS
    assert _runs_of(mark, 2) == 2 and _runs_of(mark, 3) == 1
    rows = [r for r in _report_rows(task) if r["mini_batch_id"] == "2"]
    assert [r["status"] for r in rows] == [status, "RUN_DONE"]
    assert [r["picked_count"] for r in rows] == ["1", "2"]


def test_exception_retried_then_failed_with_traceback(tmp_path):
    task, mark = _task(tmp_path, {"BAD": "1", "MODE": "raise"}, max_retries=2)
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded"  # thresholds default to -1
    assert _runs_of(mark, 1) == 3  # 1 + max_retries
    assert result.counters.failed == 1 and result.counters.items_failed == 2
    assert es.read(task.append_row_to) == "".join(f"f{i:04d}.txt\n" for i in range(12) if i not in (2, 3))
    failed = [
        json.loads(line) for line in es.read(os.path.join(task.logs_dir, "failed_mini_batches.jsonl")).splitlines()
    ]
    assert [f["index"] for f in failed] == [1] and failed[0]["attempts"] == 3
    assert failed[0]["locator"]["paths"][0].endswith("f0002.txt")
    assert "ValueError: bad input in mini-batch 1" in failed[0]["error"]
    assert "ValueError: bad input" in es.read(os.path.join(task.logs_dir, "job_error.txt"))
    errors = os.listdir(os.path.join(task.logs_dir, "user/error/0"))
    assert any("Traceback" in es.read(os.path.join(task.logs_dir, "user/error/0", n)) for n in errors)


def test_mini_batch_error_threshold_zero_fails_fast_with_traceback_in_job_result(tmp_path):
    task, mark = _task(tmp_path, {"BAD": "1", "MODE": "raise"}, max_retries=0, mini_batch_error_threshold=0)
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Failed" and result.reason == "mini_batch_error_threshold"
    text = es.read(result.job_result)
    assert "rule tripped: mini_batch_error_threshold" in text
    assert "Traceback" in text and "ValueError: bad input in mini-batch 1" in text
    assert "score.py" in text and "pjob/engine" not in text  # the user's frames, not ours
    assert "open next: " + os.path.join(task.logs_dir, "user/error/0/") in text


def test_hang_past_timeout_kills_worker_and_retries(tmp_path):
    task, mark = _task(tmp_path, {"BAD": "0", "MODE": "hang_first"}, timeout=1.0, n_files=4)
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded", es.read(result.job_result)
    assert es.read(task.append_row_to) == "".join(f"f{i:04d}.txt\n" for i in range(4))
    statuses = [r["status"] for r in _report_rows(task) if r["mini_batch_id"] == "0"]
    assert statuses == ["RUN_TIMEOUT", "RUN_DONE"]
    assert result.elapsed < 10


def test_short_returns_fail_items_not_retried_rows_kept(tmp_path):
    task, mark = _task(tmp_path, {"BAD": "2", "MODE": "short"}, error_threshold=5)
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded"
    assert _runs_of(mark, 2) == 1  # not retried
    c = result.counters
    assert (c.failed, c.items_failed, c.items_succeeded) == (1, 1, 11)
    assert es.read(task.append_row_to) == ALL_ROWS.replace("f0005.txt\n", "")
    [row] = [r for r in _report_rows(task) if r["mini_batch_id"] == "2"]
    assert row["status"] == "RUN_SHORT" and row["failed_items"] == "1"


def test_short_returns_are_not_failures_under_error_threshold_minus_one(tmp_path):
    task, mark = _task(tmp_path, {"BAD": "2", "MODE": "short"})  # error_threshold defaults to -1, as on Azure
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded"
    assert _runs_of(mark, 2) == 1
    c = result.counters
    assert (c.done, c.failed, c.items_failed, c.items_succeeded) == (6, 0, 0, 11)
    assert es.read(task.append_row_to) == ALL_ROWS.replace("f0005.txt\n", "")
    [row] = [r for r in _report_rows(task) if r["mini_batch_id"] == "2"]
    assert (row["status"], row["succeeded_items"], row["failed_items"]) == ("RUN_DONE", "1", "0")
    assert "not counted as failures (error_threshold is -1)" in row["error"]


def test_more_returns_capped_with_warning(tmp_path):
    task, mark = _task(tmp_path, {"BAD": "0", "MODE": "more"}, n_files=4)
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded" and result.counters.items_succeeded == 4
    assert es.read(task.append_row_to) == "f0000.txt\nf0001.txt\nf0000.txt\nf0001.txt\nf0002.txt\nf0003.txt\n"
    stderr = "".join(
        es.read(os.path.join(task.logs_dir, "user/stderr/0", n))
        for n in os.listdir(os.path.join(task.logs_dir, "user/stderr/0"))
    )
    assert "successes capped at 2" in stderr


@pytest.mark.parametrize(
    "kw,status,rule",
    [
        ({"error_threshold": -1}, "Succeeded", None),
        ({"error_threshold": 1}, "Succeeded", None),  # 1 failed item is not greater than 1
        ({"error_threshold": 0}, "Failed", "error_threshold"),
        # a short return fails its mini-batch only when error_threshold counts returns (>= 0)
        ({"mini_batch_error_threshold": 1, "error_threshold": 5}, "Succeeded", None),
        ({"mini_batch_error_threshold": 0, "error_threshold": 5}, "Failed", "mini_batch_error_threshold"),
        ({"mini_batch_error_threshold": 0}, "Succeeded", None),  # error_threshold -1: returns not counted
        # 1 of 6 mini-batches failed = 16.7%: over 10%, under 20%
        ({"error_threshold": 5, "flags": {"allowed_failed_percent": 10}}, "Failed", "allowed_failed_percent"),
        ({"error_threshold": 5, "flags": {"allowed_failed_percent": 20}}, "Succeeded", None),
        ({"flags": {"allowed_failed_percent": 10}}, "Succeeded", None),
    ],
)
def test_thresholds(tmp_path, kw, status, rule):
    task, _ = _task(tmp_path, {"BAD": "2", "MODE": "short"}, **kw)
    result = parallel_step.run_parallel_step(task)
    assert (result.status, result.reason) == (status, rule)


def test_init_failure_fails_job_with_init_traceback(tmp_path):
    task, mark = _task(tmp_path, {"INIT_FAIL": "1"})
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Failed" and result.reason == "init_failure"
    text = es.read(result.job_result)
    assert "RuntimeError: cannot load the model" in text and "init() failed 6 times" in text
    assert "open next: " + os.path.join(task.logs_dir, "user/error/0/process00") in text
    assert es.markers(mark) == []


@pytest.mark.parametrize(
    "threshold,says",
    [
        (5, "no item succeeded"),  # the empty returns were counted as failed items
        (-1, "run() returned no result for any item"),  # not counted as failures, but there is still nothing to write
    ],
)
def test_zero_successes_with_append_row_fails(tmp_path, threshold, says):
    task, _ = _task(tmp_path, {"BAD": "0", "MODE": "none"}, n_files=2, error_threshold=threshold)
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Failed" and result.reason == "no_successes"
    assert says in es.read(result.job_result)


def test_progress_update_timeout(tmp_path):
    task, _ = _task(
        tmp_path, {"BAD": "0", "MODE": "hang"}, n_files=2, mini_batch_size="2", flags={"progress_update_timeout": 1.5}
    )
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Failed" and result.reason == "progress_update_timeout"
    assert result.elapsed < 10


def test_first_task_creation_timeout(tmp_path):
    task, _ = _task(tmp_path, {"INIT_SLEEP": "30"}, n_files=2, flags={"first_task_creation_timeout": 1})
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Failed" and result.reason == "first_task_creation_timeout"
    assert result.elapsed < 15
