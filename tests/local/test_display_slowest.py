"""The summary's SLOWEST column (pjob.local.display._slowest) reads the job
report without a dict per row and says what progress_view.slowest said of
the dict rows."""

from __future__ import annotations

import csv
import os

import pytest
from pjob.engine import logtree
from pjob.local import display
from pjob.local import progress_view as view

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


def _old_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return [dict(zip(logtree.REPORT_COLUMNS, r)) for r in csv.reader(fh) if r and r[0].isdigit()]


@pytest.mark.parametrize("n", [1, 3, 10])
def test_slowest_is_what_the_dict_rows_gave(tmp_path, n):
    logs = str(tmp_path / "logs")
    path = logtree.LogTree(logs).job_report
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(logtree.REPORT_COLUMNS)
        w.writerows(ROWS)
        f.write("\r\n")  # a blank line
    assert display._slowest(logs, n) == view.slowest(_old_rows(path), n)
    assert display._slowest(logs)[:2] == [("1", 2.0), ("2", 2.0)]


def test_no_report():
    assert display._slowest(None) == [] and display._slowest("/nonexistent/logs") == []
