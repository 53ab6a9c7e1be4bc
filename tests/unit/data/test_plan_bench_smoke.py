"""Smoke test of bench/plan_bench.py at tiny sizes: it runs, plans, and its acceptance check passes."""

from __future__ import annotations

import os
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "plan_bench.py")


def test_plan_bench_runs_at_tiny_sizes(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            BENCH,
            "--csv-mb",
            "2",
            "--csv-batch",
            "256kb",
            "--files",
            "300",
            "--check-mb",
            "10",
            "--tmp",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pandas imported: False" in out.stdout and "PASS" in out.stdout
    assert "mini-batches of 256kb" in out.stdout and "300 files -> 30 mini-batches" in out.stdout
