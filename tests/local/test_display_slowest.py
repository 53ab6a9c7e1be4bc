"""The summary's SLOWEST column (pjob.local.display._slowest): the n slowest
attempts of a step's job report by progress_view.slowest's rule, found from
each agent fragment's kept slowest rows (pjob.engine.report.SlowestRows)
where they are current, else from the fragment's own rows. Checked against
the rule applied to every row of the merged job report, as the summary once
read it."""

from __future__ import annotations

import csv
import glob
import os
import random
import types

import pytest
from pjob.engine import logtree, report
from pjob.local import display
from pjob.local import progress_view as view

ROWS = [  # hand-written rows a killed agent's fragment could hold next to real ones
    ["0", "1", "h:1:0", "2026-01-01 00:00:00.000", "1", "1", "0", "0.5000", "0.4000", "RUN_DONE", ""],
    ["1", "1", "h:1:0", "2026-01-01 00:00:00.000", "1", "0", "1", "2.0000", "1.9000", "RUN_EXCEPTION", 'a, "b"\nc'],
    ["2", "1", "h:1:1", "2026-01-01 00:00:00.000", "1", "1", "0", "2.0000", "1.9000", "RUN_DONE", ""],  # a tie
    ["3", "1", "h:1:1", "2026-01-01 00:00:00.000", "1", "1", "0", "", "", "RUN_DONE", ""],  # empty: 0
    ["4", "1", "h:1:1", "2026-01-01 00:00:00.000", "1", "1", "0", "slow", "", "RUN_DONE", ""],  # bad: left out
    ["5", "1", "h:1:1"],  # short: 0
    ["x", "1", "h:1:1", "2026-01-01 00:00:00.000", "1", "1", "0", "9.0", "", "RUN_DONE", ""],  # not a mini-batch
    ["6", "2", "h:1:0", "2026-01-01 00:00:00.000", "1", "1", "0", "1.5000", "1.4000", "RUN_DONE", ""],
]


def _task(tmp_path):
    return types.SimpleNamespace(logs_dir=str(tmp_path / "logs"), work_dir=str(tmp_path / "work"))


def _agent(task, node, seconds, start_index, close=True):
    """An agent's fragment with one attempt per entry of ``seconds``."""
    r = report.AgentReport(task, node)
    for i, s in enumerate(seconds):
        lease = types.SimpleNamespace(index=start_index + i, attempt=1)
        r.attempt(lease, "process000", "RUN_DONE", 1_700_000_000.0, 1, 1, 0, s, s, None)
    if close:
        r.close()
    else:
        r.flush_rows()  # rows on disk, no flush of the kept slowest: a kill -9 now
    return r


def _by_the_rule(task, n):
    """The rule over every row of the merged job report."""
    merged = os.path.join(task.logs_dir, "report.csv")
    os.makedirs(task.logs_dir, exist_ok=True)
    report.merge_job_report(task.work_dir, merged)
    id_, elapsed = logtree.REPORT_COLUMNS.index("mini_batch_id"), logtree.REPORT_COLUMNS.index("elapsed_seconds")
    with open(merged, newline="", encoding="utf-8") as fh:
        rows = [(r[id_], r[elapsed] if len(r) > elapsed else None) for r in csv.reader(fh) if r and r[0].isdigit()]
    return view.slowest(rows, n)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 3, 5])
def test_same_as_the_rule_over_the_whole_report(tmp_path, seed, n):
    rnd = random.Random(seed)
    task = _task(tmp_path)
    # few distinct times, and times equal only once rounded to 4 decimals: ties everywhere
    times = [0.1, 0.25, 0.25, 1.00004, 1.00001, 0.99996, 0.5, 2e-05]
    start = 0
    for node in range(3):
        seconds = [rnd.choice(times) for _ in range(rnd.randint(0, 40))]
        _agent(task, str(node), seconds, start, close=(node != 1 or seed % 2 == 0))
        start += len(seconds)
    assert display._slowest(task.work_dir, n) == _by_the_rule(task, n)


def test_kept_rows_are_read_and_a_stale_or_torn_fragment_is_read_itself(tmp_path):
    task = _task(tmp_path)
    _agent(task, "0", [0.1, 3.0, 0.2, 3.0], 0)
    (fragment,) = glob.glob(os.path.join(task.work_dir, "report", "*.csv"))
    kept = report._kept_slowest(fragment)
    assert kept == [["1", 3.0], ["3", 3.0], ["2", 0.2]]  # slowest first, ties in order, 4 at most 3
    # the kept rows are what is read: a marker in them shows it
    with open(fragment[: -len(".csv")] + report.SLOWEST_SUFFIX, encoding="utf-8") as f:
        text = f.read()
    with open(fragment[: -len(".csv")] + report.SLOWEST_SUFFIX, "w", encoding="utf-8") as f:
        f.write(text.replace('"1", 3.0', '"1", 9.0'))
    assert display._slowest(task.work_dir, 1) == [("1", 9.0)]
    # rows written after the kept ones (an agent killed between flushes): the fragment itself
    with open(fragment, "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(ROWS)
        f.write("\r\n")  # a blank line
        f.write("7,1,h:1:0,2026-01-01 00:00:00.000,1,1,0,99")  # a torn last row: left out
    assert report._kept_slowest(fragment) is None
    assert display._slowest(task.work_dir, 3) == [("1", 3.0), ("3", 3.0), ("1", 2.0)]
    assert display._slowest(task.work_dir, 10) == [
        ("1", 3.0),
        ("3", 3.0),
        ("1", 2.0),
        ("2", 2.0),
        ("6", 1.5),
        ("0", 0.5),
        ("2", 0.2),
        ("0", 0.1),
        ("3", 0.0),
        ("5", 0.0),
    ]


def test_more_than_kept_reads_the_fragments(tmp_path):
    task = _task(tmp_path)
    _agent(task, "0", [0.1, 0.2, 0.3, 0.4, 0.5], 0)
    assert display._slowest(task.work_dir, 5) == [("4", 0.5), ("3", 0.4), ("2", 0.3), ("1", 0.2), ("0", 0.1)]


def test_no_report():
    assert display._slowest("/nonexistent/work") == []
