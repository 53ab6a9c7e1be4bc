"""Azure's failure rules, driven the way a user meets them: a pipeline YAML,
a real entry script, and a real `pjob run` process (docs/writing-jobs.md: the entry script,
the output file, when a job fails). Entry scripts leave marker files so tests can count run() calls."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from pjobrun import run_pjob, write

N_FILES = 8  # mini_batch_size 2 -> 4 mini-batches


def _job(tmp_path, script, *, args="", files=N_FILES, size="2", **step):
    write(tmp_path / "code" / "score.py", script)
    for i in range(files):
        write(tmp_path / "data" / f"f{i:02d}.txt", f"{i}\n")
    (tmp_path / "marks").mkdir(exist_ok=True)
    body = {
        "type": "parallel",
        "inputs": {"data": {"type": "uri_folder", "path": "./data"}},
        "outputs": {"out": {"type": "uri_file", "path": "./out.txt"}},
        "input_data": "${{inputs.data}}",
        "mini_batch_size": size,
        "max_concurrency_per_instance": 2,
        "environment_variables": {"MARKS": str(tmp_path / "marks")},
        "retry_settings": {"max_retries": 2, "timeout": 30},
        "task": {
            "code": "./code",
            "entry_script": "score.py",
            "program_arguments": args,
            "append_row_to": "${{outputs.out}}",
        },
    }
    body.update(step)
    return write(
        tmp_path / "pipeline.yml", yaml.safe_dump({"type": "pipeline", "name": "rules", "jobs": {"score": body}})
    )


def _run(tmp_path, yml, *extra, timeout=120):
    return run_pjob("run", yml, "--runs-dir", tmp_path / "runs", *extra, timeout=timeout)


def _result(tmp_path):
    return (tmp_path / "runs" / "rules" / "steps" / "score" / "logs" / "job_result.txt").read_text()


def _calls(tmp_path, prefix="run-"):
    return sorted(m for m in os.listdir(tmp_path / "marks") if m.startswith(prefix))


HEADER = """
import os, sys, time, uuid
MARKS = os.environ["MARKS"]
def mark(name):
    open(os.path.join(MARKS, name + "-" + uuid.uuid4().hex[:8]), "w").close()
def seen(name):
    return [m for m in os.listdir(MARKS) if m.startswith(name + "-")]
def init():
    pass
"""
EXPECTED_ROWS = "".join(f"f{i:02d}.txt\n" for i in range(N_FILES))


def test_crash_on_first_attempt_is_retried_and_output_is_complete(tmp_path):
    script = (
        HEADER
        + """
def run(mini_batch):
    first = os.path.basename(mini_batch[0])
    mark("run-" + first)
    if first == "f02.txt" and len(seen("run-f02.txt")) == 1:
        os._exit(9)  # the worker dies mid-mini-batch
    return [os.path.basename(p) for p in mini_batch]
"""
    )
    yml = _job(tmp_path, script)
    proc = _run(tmp_path, yml)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out.txt").read_text() == EXPECTED_ROWS
    assert len([c for c in _calls(tmp_path) if "f02" in c]) == 2


def test_exception_on_one_mini_batch_exhausts_retries_then_threshold_decides(tmp_path):
    script = (
        HEADER
        + """
def run(mini_batch):
    mark("run-" + os.path.basename(mini_batch[0]))
    if os.path.basename(mini_batch[0]) == "f04.txt":
        raise ValueError("bad record in f04")
    return [os.path.basename(p) for p in mini_batch]
"""
    )
    yml = _job(tmp_path, script, mini_batch_error_threshold=1)
    proc = _run(tmp_path, yml)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # 1 failed mini-batch is tolerated
    assert len([c for c in _calls(tmp_path) if "f04" in c]) == 3  # 1 + max_retries
    assert (tmp_path / "out.txt").read_text() == EXPECTED_ROWS.replace("f04.txt\nf05.txt\n", "")
    failed = (tmp_path / "runs" / "rules" / "steps" / "score" / "logs" / "failed_mini_batches.jsonl").read_text()
    assert "f04.txt" in failed and "bad record in f04" in failed

    yml = _job(tmp_path, script, mini_batch_error_threshold=0)
    proc = _run(tmp_path, yml, "--fresh")
    assert proc.returncode == 1
    result = _result(tmp_path)
    assert (
        "mini_batch_error_threshold" in result and "ValueError: bad record in f04" in result and "Traceback" in result
    )


def test_hang_past_timeout_is_killed_and_retried(tmp_path):
    script = (
        HEADER
        + """
def run(mini_batch):
    first = os.path.basename(mini_batch[0])
    mark("run-" + first)
    if first == "f00.txt" and len(seen("run-f00.txt")) == 1:
        time.sleep(600)
    return [os.path.basename(p) for p in mini_batch]
"""
    )
    yml = _job(tmp_path, script, retry_settings={"max_retries": 1, "timeout": 2})
    proc = _run(tmp_path, yml)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out.txt").read_text() == EXPECTED_ROWS
    report = (
        tmp_path / "runs" / "rules" / "steps" / "score" / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    ).read_text()
    assert "RUN_TIMEOUT" in report


def test_short_returns_count_failed_items_are_not_retried_and_rows_are_kept(tmp_path):
    script = (
        HEADER
        + """
def run(mini_batch):
    mark("run-" + os.path.basename(mini_batch[0]))
    return [os.path.basename(p) for p in mini_batch][:1]
"""
    )
    yml = _job(tmp_path, script, error_threshold=3)
    proc = _run(tmp_path, yml)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 4 failed items > error_threshold 3
    assert "error_threshold" in _result(tmp_path)
    yml = _job(tmp_path, script, error_threshold=4)
    proc = _run(tmp_path, yml, "--fresh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(_calls(tmp_path)) == 4 + 4  # both runs: one call per mini-batch, never retried
    assert (tmp_path / "out.txt").read_text() == "f00.txt\nf02.txt\nf04.txt\nf06.txt\n"


@pytest.mark.parametrize("threshold,code", [(-1, 0), (0, 1), (2, 0), (1, 1)])
def test_mini_batch_error_threshold(tmp_path, threshold, code):
    script = (
        HEADER
        + """
def run(mini_batch):
    if os.path.basename(mini_batch[0]) in ("f00.txt", "f06.txt"):
        raise RuntimeError("always fails")
    return [os.path.basename(p) for p in mini_batch]
"""
    )
    yml = _job(tmp_path, script, mini_batch_error_threshold=threshold, retry_settings={"max_retries": 0, "timeout": 30})
    proc = _run(tmp_path, yml)
    assert proc.returncode == code, proc.stdout + proc.stderr


def test_allowed_failed_percent(tmp_path):
    script = (
        HEADER
        + """
def run(mini_batch):
    if os.path.basename(mini_batch[0]) == "f00.txt":
        raise RuntimeError("fails")
    return [os.path.basename(p) for p in mini_batch]
"""
    )
    retry = {"max_retries": 0, "timeout": 30}
    assert (
        _run(tmp_path, _job(tmp_path, script, args="--allowed_failed_percent 25", retry_settings=retry)).returncode == 0
    )
    proc = _run(tmp_path, _job(tmp_path, script, args="--allowed_failed_percent 20", retry_settings=retry), "--fresh")
    assert proc.returncode == 1 and "allowed_failed_percent" in _result(tmp_path)


def test_init_failure_fails_the_job_with_the_init_traceback(tmp_path):
    script = "def init():\n    raise ImportError('model file missing: /models/x.pkl')\n\ndef run(mini_batch):\n    return mini_batch\n"
    yml = _job(tmp_path, script)
    proc = _run(tmp_path, yml)
    assert proc.returncode == 1
    result = _result(tmp_path)
    assert "init" in result and "model file missing: /models/x.pkl" in result and "Traceback" in result


def test_program_arguments_reach_the_script_with_runtime_flags(tmp_path):
    script = (
        HEADER
        + """
import argparse
def run(mini_batch):
    p = argparse.ArgumentParser(allow_abbrev=False)
    p.add_argument("--label")
    args, unknown = p.parse_known_args()
    return [f"{args.label} {os.path.basename(x)} {'--error_threshold' in unknown}" for x in mini_batch]
"""
    )
    yml = _job(tmp_path, script, args="--label ${{inputs.data}} --error_threshold 5", files=2)
    assert _run(tmp_path, yml).returncode == 0
    data = tmp_path / "data"
    assert (tmp_path / "out.txt").read_text() == f"{data} f00.txt True\n{data} f01.txt True\n"


@pytest.mark.parametrize("copy", [True, False])
def test_copy_logs_to_parent_copies_the_step_logs_into_the_pipeline_log_folder(tmp_path, copy):
    script = HEADER + "def run(mini_batch):\n    return [os.path.basename(p) for p in mini_batch]\n"
    yml = _job(tmp_path, script, args=f"--copy_logs_to_parent {copy}", files=2)
    assert _run(tmp_path, yml).returncode == 0
    step_logs = tmp_path / "runs" / "rules" / "steps" / "score" / "logs"
    parent = tmp_path / "runs" / "rules" / "logs" / "score"
    assert parent.is_dir() is copy
    if copy:
        assert (parent / "job_result.txt").read_text() == (step_logs / "job_result.txt").read_text()
        assert (parent / "sys" / "job_report" / "processed_mini-batches.csv").is_file()


def test_kill_9_of_the_whole_run_then_resume_runs_nothing_twice(tmp_path):
    script = (
        HEADER
        + """
def run(mini_batch):
    name = os.path.basename(mini_batch[0])
    mark("run-" + name)
    time.sleep(0.4)
    return [os.path.basename(p) for p in mini_batch]
"""
    )
    yml = _job(tmp_path, script, files=24, size="1", max_concurrency_per_instance=2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pjob.cli", "run", str(yml), "--runs-dir", str(tmp_path / "runs")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while len(_calls(tmp_path)) < 6 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its agents and workers, all at once
    proc.wait()
    before = len(_calls(tmp_path))
    assert 0 < before < 24
    resumed = _run(tmp_path, yml)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    runs = _calls(tmp_path)
    names = [c.rsplit("-", 1)[0] for c in runs]
    # only mini-batches that were running when killed may run twice; finished ones never
    assert len(runs) - 24 <= 2 * 2, runs
    assert set(names) == {f"run-f{i:02d}.txt" for i in range(24)}
    expected = "".join(f"f{i:02d}.txt\n" for i in range(24))
    assert (tmp_path / "out.txt").read_text() == expected
    uninterrupted = tmp_path / "again"
    uninterrupted.mkdir()
    yml2 = _job(uninterrupted, script, files=24, size="1")
    assert _run(uninterrupted, yml2).returncode == 0
    assert (uninterrupted / "out.txt").read_bytes() == (tmp_path / "out.txt").read_bytes()
