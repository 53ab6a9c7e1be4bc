"""Smoke test of bench/table_job.py at a tiny size: it runs the table job,
checks the output, and prints the peak memory (with each kind of process)
and its verdict; only a crash or a missing figure fails here (no wall-clock
or memory asserts: the machine is shared)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "table_job.py")


def test_table_job_prints_memory_by_role_and_a_verdict(tmp_path):
    out = subprocess.run(
        [sys.executable, BENCH, "--csv-mb", "1", "--keep", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode in (0, 1) and "Traceback" not in out.stderr, out.stdout + out.stderr
    assert re.search(r"peak by role, MB: pjob run \(driver\) \d+, agents \d+, workers \d+\); [0-9,]+ rows", out.stdout)
    assert re.search(r"(PASS|FAIL)  peak memory of all pjob processes: [0-9.]+ MB \(target <= 400 MB\)", out.stdout)
    assert (out.returncode == 1) == ("FAIL" in out.stdout)
