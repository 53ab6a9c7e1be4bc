"""The summary's SLOWEST column (pjob.local.display._slowest) reads the job
report's mini-batch rows (quoted multi-line errors, short rows, a blank line)
and ranks them by progress_view.slowest's rule."""

from __future__ import annotations

import csv
import os

import pytest
from pjob.engine import logtree
from pjob.local import display

ROWS = [
    ["0", "1", "h:1:0", "2026-01-01 00:00:00.000", "1", "1", "0", "0.5000", "0.4000", "RUN_DONE", ""],
    ["1", "1", "h:1:0", "2026-01-01 00:00:00.000", "1", "0", "1", "2.0000", "1.9000", "RUN_EXCEPTION", 'a, "b"\nc'],
    ["2", "1", "h:1:1", "2026-01-01 00:00:00.000", "1", "1", "0", "2.0000", "1.9000", "RUN_DONE", ""],  # a tie
    ["3", "1", "h:1:1", "2026-01-01 00:00:00.000", "1", "1", "0", "", "", "RUN_DONE", ""],  # empty: 0
    ["4", "1", "h:1:1", "2026-01-01 00:00:00.000", "1", "1", "0", "slow", "", "RUN_DONE", ""],  # bad: left out
    ["5", "1", "h:1:1"],  # short: 0
    ["x", "1", "h:1:1", "2026-01-01 00:00:00.000", "1", "1", "0", "9.0", "", "RUN_DONE", ""],  # not a mini-batch
    ["6", "2", "h:1:0", "2026-01-01 00:00:00.000", "1", "1", "0", "1.5000", "1.4000", "RUN_DONE", ""],
]


@pytest.mark.parametrize(
    "n, expected",
    [
        (1, [("1", 2.0)]),
        (3, [("1", 2.0), ("2", 2.0), ("6", 1.5)]),
        (10, [("1", 2.0), ("2", 2.0), ("6", 1.5), ("0", 0.5), ("3", 0.0), ("5", 0.0)]),
    ],
)
def test_slowest_of_the_report(tmp_path, n, expected):
    logs = str(tmp_path / "logs")
    path = logtree.LogTree(logs).job_report
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(logtree.REPORT_COLUMNS)
        w.writerows(ROWS)
        f.write("\r\n")  # a blank line
    assert display._slowest(logs, n) == expected


def test_no_report():
    assert display._slowest(None) == [] and display._slowest("/nonexistent/logs") == []
