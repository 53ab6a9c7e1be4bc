"""Smoke tests of bench/overhead.py and bench/scaling.py at tiny sizes: they
run pjob and their baselines, find the outputs equal, and print every figure
with its target and PASS/FAIL (at these sizes the targets themselves may go
either way: only a crash or a missing figure fails here; no wall-clock asserts)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench")
sys.path.insert(0, BENCH)

import benchlib  # noqa: E402


def run_bench(name: str, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, os.path.join(BENCH, name), *args], capture_output=True, text=True, timeout=300
    )
    assert out.returncode in (0, 1) and "Traceback" not in out.stderr, out.stdout + out.stderr
    return out


def test_fit_splits_fixed_and_per_unit_cost():
    assert benchlib.fit(100, 1.5, 300, 2.5) == (1.0, 0.005)


def test_overhead_prints_intercepts_slopes_first_run_and_verdicts():
    out = run_bench("overhead.py", "--files", "40,120", "--mb", "4,1", "--repeat", "1")
    text = out.stdout
    assert len(re.findall(r"intercept -?[0-9.]+s, slope -?[0-9.]+µs per mini-batch", text)) == 4, text
    verdicts = [line.split("  ", 2)[2] for line in text.splitlines() if re.match(r"  (PASS|FAIL)  ", line)]
    assert len(verdicts) == 3 and verdicts[2].startswith("time to first run(), pjob/Pool: "), text
    for size, verdict in zip((4, 1), verdicts):  # at tiny sizes a noisy Pool slope may not fit: said so
        assert verdict.startswith((f"slope, mini-batches of {size}, pjob/Pool: ", "Pool's slope is not positive")), text
    assert (out.returncode == 1) == ("FAIL" in text)


def test_scaling_prints_both_speed_ups_and_a_verdict():
    out = run_bench("scaling.py", "--mini-batches", "12", "--ms", "1", "--repeat", "1")
    assert re.search(r"pjob: 1 worker .* speed-up [0-9.]+x", out.stdout), out.stdout
    assert re.search(r"(PASS|FAIL)  CPU-bound speed-up of pjob", out.stdout), out.stdout
    assert (out.returncode == 1) == ("FAIL" in out.stdout)
