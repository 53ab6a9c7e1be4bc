"""SQLite-backend specifics beyond the shared contract suite: dead agent
processes detected by pid at once, ``kill -9`` in the middle of a write storm
leaves a consistent file, fork safety, clear errors on a mismatched queue, and
O(1) counters on big plans."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time

import pytest
from pjob.coord import base, sqlite
from pjob.spec import errors

FORK = multiprocessing.get_context("fork")


def recount(path) -> dict:
    """Counters recomputed from the per-batch rows (ground truth)."""
    with sqlite3.connect(path) as db:
        by_state = dict(db.execute("SELECT state, count(*) FROM batches GROUP BY state").fetchall())
        ok, bad, attempts = db.execute("SELECT sum(succeeded), sum(failed), sum(attempts) FROM batches").fetchone()
    return {
        "pending": by_state.get(0, 0),
        "leased": by_state.get(1, 0),
        "done": by_state.get(2, 0),
        "failed": by_state.get(3, 0),
        "items_succeeded": ok or 0,
        "items_failed": bad or 0,
        "attempts": attempts or 0,
    }


def counters_dict(c) -> dict:
    p = c.counters()
    return {
        k: getattr(p, k) for k in ("pending", "leased", "done", "failed", "items_succeeded", "items_failed", "attempts")
    }


def _claim_then_hang(path, ready):
    c = sqlite.SqliteCoordinator(path)
    ready.put([x.index for x in c.claim("doomed", 2)])
    time.sleep(600)


def test_dead_agent_process_is_detected_without_waiting_for_its_lease(tmp_path):
    path = tmp_path / "queue.db"
    c = sqlite.SqliteCoordinator(path, 4, lease_seconds=3600, expiry_check_seconds=0)
    ready = FORK.Queue()
    proc = FORK.Process(target=_claim_then_hang, args=(path, ready))
    proc.start()
    assert ready.get(timeout=30) == [0, 1]
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    # lease_seconds is an hour, yet the next claim already gets them back (attempt burnt)
    got = c.claim("alive", 10)
    assert [(x.index, x.attempt) for x in got] == [(0, 2), (1, 2), (2, 1), (3, 1)]


def test_live_agent_in_another_process_keeps_its_leases(tmp_path):
    path = tmp_path / "queue.db"
    c = sqlite.SqliteCoordinator(path, 4, lease_seconds=3600)
    ready = FORK.Queue()
    proc = FORK.Process(target=_claim_then_hang, args=(path, ready))
    proc.start()
    try:
        assert ready.get(timeout=30) == [0, 1]
        assert c.release_expired(time.time()) == 0
        assert [x.index for x in c.claim("other", 10)] == [2, 3]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()


def _write_storm(path, name):
    c = sqlite.SqliteCoordinator(path, expiry_check_seconds=0)
    while True:
        leases = c.claim(name, 3)
        if not leases:
            time.sleep(0.001)
            continue
        c.fail(leases[0], "x")
        c.release(leases[1]) if len(leases) > 1 else None
        c.complete_many([(x, base.Outcome(items=2, succeeded=2, failed=0)) for x in leases[2:]])


@pytest.mark.parametrize("kill_after", [0.05, 0.15, 0.3])
def test_kill_9_during_a_write_storm_leaves_a_consistent_queue(tmp_path, kill_after):
    path = tmp_path / "queue.db"
    sqlite.SqliteCoordinator(path, 3000, max_attempts=50).close()
    procs = [FORK.Process(target=_write_storm, args=(path, f"storm-{i}")) for i in range(2)]
    for p in procs:
        p.start()
    time.sleep(kill_after)
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
        p.join()
    c = sqlite.SqliteCoordinator(path, max_attempts=50)
    assert counters_dict(c) == recount(path)
    c.release_expired(time.time())  # both agents are dead: every lease comes back
    after = counters_dict(c)
    assert after == recount(path)
    assert after["leased"] == 0 and after["pending"] + after["done"] + after["failed"] == 3000


def test_coordinator_object_survives_fork(tmp_path):
    c = sqlite.SqliteCoordinator(tmp_path / "queue.db", 3)
    c.counters()  # parent connection open
    out = FORK.Queue()

    def child():
        leases = c.claim("child", 1)
        assert c.complete(leases[0], base.Outcome(1, 1, 0))
        out.put([x.index for x in leases])

    proc = FORK.Process(target=child)
    proc.start()
    assert out.get(timeout=30) == [0]
    proc.join()
    assert proc.exitcode == 0
    assert [x.index for x in c.claim("parent", 5)] == [1, 2]
    assert c.counters().done == 1


def test_opening_a_missing_queue_is_a_user_error(tmp_path):
    with pytest.raises(errors.UserError, match="never planned"):
        sqlite.SqliteCoordinator(tmp_path / "queue.db")


def test_plan_size_change_is_a_user_error_naming_fresh(tmp_path):
    sqlite.SqliteCoordinator(tmp_path / "queue.db", 10).close()
    with pytest.raises(errors.UserError, match="--fresh"):
        sqlite.SqliteCoordinator(tmp_path / "queue.db", 11)


def test_items_must_match_total(tmp_path):
    with pytest.raises(ValueError):
        sqlite.SqliteCoordinator(tmp_path / "queue.db", 3, items=[1, 2])


def test_max_attempts_of_the_reopening_run_applies(tmp_path):
    path = tmp_path / "queue.db"
    c = sqlite.SqliteCoordinator(path, 1, max_attempts=1)
    (lease,) = c.claim("a", 1)
    c.release(lease)
    c.close()
    c = sqlite.SqliteCoordinator(path, max_attempts=2)
    (lease,) = c.claim("a", 1)
    assert c.fail(lease, "first") is True
    assert c.counters().pending == 1  # a second attempt is allowed now


def test_big_plan_counters_are_constant_time(tmp_path):
    total = 200_000
    t0 = time.perf_counter()
    c = sqlite.SqliteCoordinator(tmp_path / "queue.db", total)
    created = time.perf_counter() - t0
    leases = c.claim("a", 1000)
    c.complete_many([(x, base.Outcome(1, 1, 0)) for x in leases])
    t0 = time.perf_counter()
    for _ in range(200):
        p = c.counters()
    per_call = (time.perf_counter() - t0) / 200
    assert (p.done, p.pending) == (1000, total - 1000)
    assert per_call < 0.002, per_call
    assert created < 10, created
    t0 = time.perf_counter()
    (last,) = c.claim("a", 1)
    assert last.index == 1000 and time.perf_counter() - t0 < 0.05


def test_completions_with_stale_leases_among_them_change_only_the_live_rows(tmp_path):
    """One guarded write when every lease stands; otherwise it is rolled back
    and done again with the holders read: the same answers either way."""
    path = tmp_path / "q.db"
    c = sqlite.SqliteCoordinator(path, 6, lease_seconds=30.0)
    leases = c.claim("a", 4)
    done = base.Outcome(1, 1, 0)
    assert c.complete_many([(leases[0], done), (leases[1], done)]) == [True, True]  # the guarded write
    stale = base.Lease(leases[3].index, leases[3].attempt + 1, "a", 0.0)  # an attempt it does not hold
    answers = c.complete_many([(leases[2], done), (leases[2], done), (stale, done), (leases[0], done)])
    assert answers == [True, False, False, False]  # a second outcome of one lease in one call is stale too
    assert counters_dict(c) == recount(path) == {**recount(path), "done": 3, "leased": 1, "pending": 2}
    assert c.complete_many([(leases[3], done)]) == [True]
    assert counters_dict(c) == recount(path)
