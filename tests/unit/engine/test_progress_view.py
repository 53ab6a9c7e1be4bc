"""The progress display's pure parts: rates and ETA count only this run's
work (a resumed step used to show millions of items/s), the worker lines
and the summary rows; the agents' activity tracker."""

import types

from pjob.coord.base import Progress
from pjob.engine import activity
from pjob.local import progress_view as view


def test_rates_after_resume_count_only_this_run():
    s = view.StepProgress("score", started=100.0)
    s.observe(Progress(total=1000, done=900, items_succeeded=9000), 100.0)  # done by earlier runs
    s.observe(Progress(total=1000, done=950, items_succeeded=9500), 110.0)
    mb_rate, item_rate, eta = view.rates(s, 110.0)
    assert mb_rate == 5.0 and item_rate == 50.0
    assert eta == 10.0  # 50 left at 5/s


def test_no_eta_before_this_run_did_anything_or_once_nothing_is_left():
    s = view.StepProgress("score", started=0.0)
    s.observe(Progress(total=10, done=4, items_succeeded=4), 0.0)
    assert view.rates(s, 5.0) == (0.0, 0.0, None)
    s.observe(Progress(total=10, done=10, items_succeeded=10), 6.0)
    assert view.rates(s, 6.0)[2] is None
    assert (
        view.progress_line(s, 6.0)
        == "step score: 10/10 mini-batches (0 failed), 10 items (0 failed), 1.0 items/s, elapsed 6s"
    )


def test_worker_lines_say_what_each_worker_does():
    docs = [
        {
            "node": "0",
            "restarts": 1,
            "workers": [
                {"proc": "process000", "state": "run", "mini_batch": 41, "since": 97.0},
                {"proc": "process001", "state": "init", "mini_batch": None, "since": 88.0},
                {"proc": "process002", "state": "idle", "mini_batch": None, "since": 99.0},
                {"proc": "process003", "state": "restarting", "mini_batch": None, "since": 99.0},
            ],
        }
    ]
    assert view.worker_lines(docs, 100.0) == [
        "node 0 process000: mini-batch 41 for 3 s",
        "node 0 process001: init for 12 s",
        "node 0 process002: idle",
        "node 0 process003: restarting after a crash (init) for 1 s",
        "node 0: 1 worker restart(s) so far",
    ]


def test_first_error_and_next_steps_from_job_result():
    text = (
        "Failed: parallel step 's'\n\nrule tripped: x\n\nfirst error (mini-batch 7):\nTraceback\nValueError: no\n\n"
        "open next: /r/logs/user/error/0/process000.txt\n"
    )
    error, index, open_next = view.first_error(text)
    assert error == "Traceback\nValueError: no" and index == 7 and open_next.endswith("process000.txt")
    steps = view.next_steps(
        job_file="p.yml",
        run_dir="runs/j",
        step="s",
        failed_mini_batches=1,
        error_index=7,
        open_next=open_next,
        parallel=True,
    )
    assert "debug one mini-batch: pjob replay runs/j --step s --mini-batch 7" in steps
    assert "after fixing: pjob run p.yml --retry-failed" in steps


def test_slowest_attempts():
    timings = [("1", "0.5"), ("2", "3.0"), ("3", "x"), ("4", ""), ("5", None), ("6", "3.0")]
    assert view.slowest(timings, 1) == [("2", 3.0)]
    assert view.slowest(timings, 10) == [("2", 3.0), ("6", 3.0), ("1", 0.5), ("4", 0.0), ("5", 0.0)]


def _slot(slot, **kw):
    base = dict(
        slot=slot,
        proc=f"process{slot:03d}",
        popen=object(),
        res_fd=3,
        ready=True,
        queue=[],
        phase="run",
        phase_started=0.0,
    )
    return types.SimpleNamespace(**{**base, **kw})


def test_activity_tracks_states_restarts_and_durations(tmp_path):
    tracker = activity.Activity(str(tmp_path), "0")
    busy = _slot(0, queue=[types.SimpleNamespace(index=5)])
    fresh = _slot(1, ready=False)
    tracker.started(0)
    tracker.started(1)
    tracker.started(1)  # a second start of a slot is a restart
    tracker.finished(0.3)
    tracker.finished(20.0)
    tracker.update([busy, fresh], 0.0, force=True)
    (doc,) = activity.read_all(str(tmp_path))
    assert [(w["state"], w["mini_batch"]) for w in doc["workers"]] == [("run", 5), ("restarting", None)]
    assert doc["restarts"] == 1
    buckets, total, n = activity.merged_durations([doc, doc])
    assert n == 4 and total == 40.6
    assert dict(buckets)["0.5"] == 2 and dict(buckets)["+Inf"] == 4


def test_progress_overview_rate_counts_only_this_run():
    from pjob.local import parallel_step

    first = Progress(total=100, done=90, attempts=90)
    line = parallel_step._overview_line(Progress(total=100, done=95), first, started=0.0, now=5.0)
    assert "1.0 mini-batches/s, ETA 5s" in line
