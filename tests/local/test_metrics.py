"""`pjob run --metrics-port P` serves Prometheus metrics while the job runs:
scraped during a run, the counters move as mini-batches finish. run() of
mini-batch dN waits for gate/dN, which the test creates one at a time."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

from pjobrun import gated_job, run_pjob
from prometheus_client.parser import text_string_to_metric_families


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[
                (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("job", "step", "namespace"))))
            ] = s.value
    return out


def _wait(port, check, what, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = _scrape(port)
        if m and check(m):
            return m
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last scrape: {_scrape(port)}")


def test_counters_move_during_a_run(tmp_path):
    job = gated_job(tmp_path, "metered", docs=5, bad=3, max_retries=1)
    gates = tmp_path / "gates"
    gates.mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pjob.cli",
            "run",
            str(job),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--metrics-port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PJOB_TEST_GATES=str(gates)),
    )
    try:
        done = ("pjob_mini_batches_total", (("state", "done"),))
        m = _wait(
            port,
            lambda m: (
                m.get(("pjob_mini_batches_planned", ())) == 5 and m.get(("pjob_workers", (("state", "run"),))) == 2
            ),
            "two busy workers",
        )
        assert m[done] == 0 and m[("pjob_items_total", (("state", "succeeded"),))] == 0
        (gates / "d0.txt").touch()
        m = _wait(port, lambda m: m.get(done) == 1, "one mini-batch done")
        assert m[("pjob_items_total", (("state", "succeeded"),))] == 1
        # the agents write their histogram at most every 0.5 s
        _wait(port, lambda m: m.get(("pjob_mini_batch_duration_seconds_count", ())) == 1, "its duration")
        for i in (1, 2):
            (gates / f"d{i}.txt").touch()
        _wait(port, lambda m: m.get(done) == 3, "three done")
        (gates / "d3.txt").touch()  # the bad one: fails, is retried once, fails for good
        m = _wait(port, lambda m: m.get(("pjob_mini_batches_total", (("state", "failed"),))) == 1, "the failure")
        assert m[done] == 3 and m[("pjob_items_total", (("state", "failed"),))] == 1
        assert m[("pjob_attempts_total", ())] >= 5  # four started, the bad one twice
        assert m[("pjob_worker_restarts_total", ())] == 0
    finally:
        for i in range(5):
            (gates / f"d{i}.txt").touch()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def test_metrics_port_in_use_is_bad_input(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = run_pjob(
            "run",
            os.path.join(os.path.dirname(__file__), "..", "..", "examples", "file-processing", "pipeline.yml"),
            "--runs-dir",
            tmp_path,
            "--metrics-port",
            busy.getsockname()[1],
        )
    assert done.returncode == 2 and "--metrics-port" in done.stderr and "Traceback" not in done.stderr
