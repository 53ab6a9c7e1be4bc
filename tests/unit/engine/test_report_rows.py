"""The agent's job report fragment (pjob.engine.report): rows formatted
without the csv module are the bytes ``csv.writer`` writes, quoted rows
included, in attempt order."""

from __future__ import annotations

import csv
import glob
import io
import os
import types

from pjob.engine import report


def _expected(node, rows):
    out = io.StringIO(newline="")
    w = csv.writer(out)
    for index, attempt, proc, status, start, items, ok, bad, elapsed, run_s, error in rows:
        first = report._first_line(error)
        w.writerow(
            (
                index,
                attempt,
                f"{node}/{proc}",
                report._iso(start),
                items,
                ok,
                bad,
                f"{elapsed:.4f}",
                f"{run_s:.4f}",
                status,
                first,
            )
        )
    return out.getvalue().encode()


def test_rows_are_the_csv_writers_bytes(tmp_path):
    task = types.SimpleNamespace(logs_dir=str(tmp_path / "logs"), work_dir=str(tmp_path / "work"))
    rows = [
        (0, 1, "process000", "RUN_DONE", 1_700_000_000.1234, 1, 1, 0, 0.000123, 0.0000456, None),
        (1, 1, "process001", "RUN_SHORT", 1_700_000_000.5, 2, 1, 1, 1.5, 1.25, "header\nrun() returned 1, for 2"),
        (2, 2, "process000", "RUN_EXCEPTION", 1_700_000_001.0, 3, 0, 3, 2.0, 0.0, 'Traceback\nValueError: "bad"'),
        (3, 1, "process000", "RUN_DONE", 1_700_000_002.999, -1, 7, 0, 12345.6789, 0.5, ""),
        (4, 1, "process001", "ADOPTED", 1_700_000_003.0, 5, 5, 0, 0.0, 0.0, None),
    ]
    r = report.AgentReport(task, "0")
    for index, attempt, proc, status, start, items, ok, bad, elapsed, run_s, error in rows:
        lease = types.SimpleNamespace(index=index, attempt=attempt)
        r.attempt(lease, proc, status, start, items, ok, bad, elapsed, run_s, error)
    r.close()
    (fragment,) = glob.glob(os.path.join(task.work_dir, "report", "*.csv"))
    with open(fragment, "rb") as f:
        assert f.read() == _expected("0", rows)
