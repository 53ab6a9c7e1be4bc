"""`pjob status`, `pjob logs` and `pjob failed` on local run folders print
what the cluster commands print for a cluster job (same formatter), while
the job runs and after it ended."""

import os
import subprocess
import sys
import time

from pjob.engine import jobview
from pjobrun import gated_job, run_pjob, write


def _job(tmp_path):
    return gated_job(tmp_path, "scoring", docs=5, bad=3)


def _wait_for(check, what, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = check()
        if out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_status_logs_failed_on_a_local_run(tmp_path):
    job, gate, runs = _job(tmp_path), tmp_path / "gate", tmp_path / "runs"
    env = dict(os.environ, PJOB_TEST_GATE=str(gate))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pjob.cli", "run", str(job), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:

        def busy():
            out = run_pjob("status", "scoring", "--runs-dir", runs).stdout
            return out if "Workers:" in out and ": mini-batch" in out else None

        running = _wait_for(busy, "pjob status to show workers busy")
        assert "State:     Running" in running and "score  parallel  Running" in running
        listing = run_pjob("status", "--runs-dir", runs).stdout
        assert "scoring" in listing and "Running" in listing
    finally:
        gate.touch()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err  # one failed mini-batch is within the default threshold

    status = run_pjob("status", runs / "scoring")
    assert status.returncode == 0, status.stderr
    text = status.stdout
    assert text.startswith("PipelineJob scoring\nState:     Succeeded\n")
    assert "4/5 mini-batches done, 1 failed; items 4 succeeded, 1 failed" in text
    # the same shape as a cluster job's status (one formatter)
    cluster_like = jobview.format_status(
        {
            "kind": "PipelineJob",
            "metadata": {"name": "x", "namespace": "ns"},
            "status": {"state": "Succeeded", "steps": {"score": {"kind": "parallel", "state": "Succeeded"}}},
        },
        {},
        [],
    )

    def sections(t):
        return [line.split(":")[0] for line in t.splitlines()[1:] if not line.startswith(" ")]

    def step_header(t):
        return next(line.split() for line in t.splitlines() if line.startswith("  STEP"))

    assert [x for x in sections(text) if x in sections(cluster_like)] == sections(cluster_like)
    assert step_header(text) == step_header(cluster_like) == ["STEP", "KIND", "STATE", "CHILD", "PROGRESS", "MESSAGE"]

    failed = run_pjob("failed", runs / "scoring").stdout
    assert "step score: 1 failed mini-batch(es), 1 item(s) failed" in failed
    assert "d3.txt" in failed and "ValueError: cannot score d3.txt" in failed and "Traceback" in failed
    assert f"replay: pjob replay {runs / 'scoring'} --step score --mini-batch 3" in failed

    logs = run_pjob("logs", "scoring", "--runs-dir", runs).stdout
    assert logs.startswith("Succeeded: parallel step 'score'")
    one = run_pjob("logs", "scoring", "--runs-dir", runs, "--mini-batch", "3").stdout
    assert "RUN_EXCEPTION" in one and "ValueError: cannot score d3.txt" in one
    follow = run_pjob("logs", runs / "scoring", "--follow", "--step", "score")
    assert follow.returncode == 0 and "mini-batches: 5 total, 4 succeeded, 1 failed" in follow.stdout


def test_unknown_run_is_bad_input(tmp_path):
    done = run_pjob("failed", "nope", "--runs-dir", tmp_path)
    assert done.returncode == 2 and "no run 'nope'" in done.stderr and "Traceback" not in done.stderr
    done = run_pjob("logs", tmp_path, "--step", "x")
    assert done.returncode == 2


def test_inspect_a_job_yaml_shows_each_parallel_steps_split(tmp_path):
    import json

    job = _job(tmp_path)
    table = run_pjob("inspect", job)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["STEP", "INPUT", "TYPE", "SPLIT", "BY", "ITEMS", "MINI-BATCHES", "SMALLEST", "LARGEST"]
    assert row.split()[0] == "score" and row.split()[-4:] == ["5", "5", "1", "1"]
    rows = json.loads(run_pjob("inspect", job, "--json").stdout)
    assert [(r["step"], r["items"], r["mini_batches"], r["type"]) for r in rows] == [("score", 5, 5, "uri_folder")]
    bad = write(tmp_path / "bad.yml", open(job).read().replace("mini_batch_size", "mini_batch_sise"))
    done = run_pjob("inspect", bad)
    assert done.returncode == 2 and "bad.yml" in done.stderr and "Traceback" not in done.stderr
