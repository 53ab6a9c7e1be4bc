"""The one behavioural suite every Coordinator backend must pass (docs/architecture.md,
"Contracts worth keeping stable"). Parametrised over the backends by the
``backend`` fixture: each param yields a ``Backend`` that creates a fresh
queue and can open it again (in this process or a forked child), so the same
tests cover SQLite and Kubernetes (ConfigMaps/Leases on the real API server of tests/cluster).

Time is passed explicitly (``release_expired(now)``) so lease expiry needs no
sleeping; real processes (fork) and ``kill -9`` cover concurrency and death.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
from pjob.coord import base

sys.path.insert(0, str(Path(__file__).resolve().parent / "coord"))
from contract_backends import BACKENDS, STRICT_ORDER_ONLY

FORK = multiprocessing.get_context("fork")


def any_order(test):
    """Mark a test whose assertions hold when claims reserve mini-batches ahead."""
    test.any_order = True
    return test


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        names = [
            n for n in sorted(BACKENDS) if n not in STRICT_ORDER_ONLY or getattr(metafunc.function, "any_order", False)
        ]
        metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture
def backend(request, tmp_path):
    made = BACKENDS[request.param](tmp_path, request)
    yield made
    made.close()


def ok(items: int = 1, elapsed: float = 0.0) -> base.Outcome:
    return base.Outcome(items=items, succeeded=items, failed=0, elapsed=elapsed)


def check_invariants(c, total: int) -> base.Progress:
    p = c.counters()
    assert p.total == total
    assert p.pending + p.leased + p.done + p.failed == total, p
    assert min(p.pending, p.leased, p.done, p.failed) >= 0, p
    return p


def later(c) -> float:
    """A moment after every current lease has expired."""
    return time.time() + c.lease_seconds + 5


# --- claiming -------------------------------------------------------------------------


def test_claims_lowest_index_first_in_chunks(backend):
    c = backend.create(10)
    first = c.claim("a", 3)
    assert [x.index for x in first] == [0, 1, 2]
    assert all(x.attempt == 1 and x.owner == "a" and x.deadline > time.time() for x in first)
    second = c.claim("b", 4)
    assert [x.index for x in second] == [3, 4, 5, 6]
    p = check_invariants(c, 10)
    assert (p.pending, p.leased, p.attempts) == (3, 7, 7)
    assert [x.index for x in c.claim("a", 100)] == [7, 8, 9]
    assert c.claim("b", 5) == []
    assert c.claim("a", 0) == []


def test_returned_batches_are_claimed_before_higher_ones(backend):
    c = backend.create(6)
    leases = c.claim("a", 3)
    assert c.fail(leases[1], "boom")
    again = c.claim("b", 2)
    assert [(x.index, x.attempt) for x in again] == [(1, 2), (3, 1)]


@any_order
def test_no_batch_is_leased_to_two_agents(backend):
    c = backend.create(50)
    seen: dict[int, str] = {}
    agents = ["a", "b", "c"]
    while True:
        got = [lease for agent in agents for lease in c.claim(agent, random.randint(1, 4))]
        if not got:
            break
        for lease in got:
            assert lease.index not in seen, f"{lease.index} leased to {seen.get(lease.index)} and {lease.owner}"
            seen[lease.index] = lease.owner
    assert sorted(seen) == list(range(50))


# --- completion -----------------------------------------------------------------------


@any_order
def test_done_is_final_and_recorded_once(backend):
    c = backend.create(3)
    (lease,) = c.claim("a", 1)
    assert c.complete(lease, ok(items=4)) is True
    assert c.complete(lease, ok(items=4)) is False
    assert c.fail(lease, "late failure") is False
    c.release(lease)
    p = check_invariants(c, 3)
    assert (p.done, p.items_succeeded, p.leased, p.attempts) == (1, 4, 0, 1)
    assert p.last_progress > 0
    assert [x.index for x in c.claim("b", 5)] == [1, 2]


@any_order
def test_stale_lease_cannot_complete_after_reclaim(backend):
    c = backend.create(2)
    (old,) = c.claim("slow", 1)
    assert c.release_expired(later(c)) == 1
    (new,) = c.claim("fast", 1)
    assert (new.index, new.attempt, new.owner) == (0, 2, "fast")
    assert c.complete(old, ok()) is False
    assert c.fail(old, "stale") is False
    assert c.complete(new, ok()) is True
    p = check_invariants(c, 2)
    assert (p.done, p.attempts, p.items_succeeded) == (1, 2, 1)


def test_complete_many_accepts_live_and_rejects_stale(backend):
    c = backend.create(5)
    leases = c.claim("a", 5)
    assert c.complete(leases[2], ok()) is True
    results = c.complete_many([(leases[0], ok(2)), (leases[2], ok(2)), (leases[4], ok(3))])
    assert results == [True, False, True]
    p = check_invariants(c, 5)
    assert (p.done, p.leased, p.items_succeeded) == (3, 2, 1 + 2 + 3)
    assert c.complete_many([]) == []


def test_short_return_is_a_final_failure_with_its_items(backend):
    c = backend.create(2, max_attempts=3)
    (lease,) = c.claim("a", 1)
    outcome = base.Outcome(items=5, succeeded=3, failed=2, error="run() returned 3 results for 5 inputs")
    assert c.complete(lease, outcome) is True
    p = check_invariants(c, 2)
    assert (p.done, p.failed, p.items_succeeded, p.items_failed) == (0, 1, 3, 2)
    assert [x.index for x in c.claim("a", 5)] == [1]  # not retried
    (rec,) = c.records("failed")
    assert (rec.index, rec.error, rec.items_failed) == (0, outcome.error, 2)


# --- attempts -------------------------------------------------------------------------


@any_order
def test_failed_attempts_are_retried_until_max_attempts(backend):
    c = backend.create(1, max_attempts=3, items=[7])
    for attempt in (1, 2, 3):
        (lease,) = c.claim("a", 1)
        assert lease.attempt == attempt
        assert c.fail(lease, f"error {attempt}") is True
    assert c.claim("a", 1) == []
    p = check_invariants(c, 1)
    assert (p.failed, p.attempts, p.items_failed, p.pending) == (1, 3, 7, 0)
    (rec,) = c.records("failed")
    assert (rec.attempts, rec.error) == (3, "error 3")


@any_order
def test_a_final_failure_counts_the_items_the_attempt_held(backend):
    """The worker read the mini-batch: its row count replaces the planned one
    (an estimate for byte ranges, -1 for partition keys from folder names)."""
    c = backend.create(2, max_attempts=2, items=[10, -1])
    leases = sorted(c.claim("a", 2), key=lambda x: x.index)
    assert c.fail(leases[0], "raised", items=9) is True  # retryable: nothing counted yet
    assert c.fail(leases[1], "timed out", retryable=False, items=12) is True
    assert check_invariants(c, 2).items_failed == 12
    (lease,) = c.claim("a", 1)
    assert c.fail(lease, "raised again", items=9) is True
    p = check_invariants(c, 2)
    assert (p.failed, p.items_failed) == (2, 21)
    assert sorted((r.index, r.items_failed) for r in c.records("failed")) == [(0, 9), (1, 12)]


def test_non_retryable_failure_is_final_at_once(backend):
    c = backend.create(2, max_attempts=3)
    (lease,) = c.claim("a", 1)
    assert c.fail(lease, "bad input", retryable=False) is True
    assert [x.index for x in c.claim("a", 5)] == [1]
    assert check_invariants(c, 2).failed == 1


def test_release_hands_back_without_burning_an_attempt(backend):
    c = backend.create(3, max_attempts=1)
    leases = c.claim("a", 2)
    for lease in leases:
        c.release(lease)
    p = check_invariants(c, 3)
    assert (p.pending, p.leased, p.attempts) == (3, 0, 0)
    again = c.claim("b", 3)
    assert [(x.index, x.attempt) for x in again] == [(0, 1), (1, 1), (2, 1)]
    assert c.complete(leases[0], ok()) is False  # the released lease is stale
    assert all(c.complete(x, ok()) for x in again)
    assert check_invariants(c, 3).done == 3


def test_expired_lease_burns_an_attempt_and_can_exhaust_it(backend):
    c = backend.create(2, max_attempts=2, items=[3, 4])
    assert len(c.claim("a", 2)) == 2
    assert c.release_expired(time.time()) == 0  # still within the lease
    assert c.release_expired(later(c)) == 2
    p = check_invariants(c, 2)
    assert (p.pending, p.leased, p.attempts) == (2, 0, 2)
    leases = c.claim("b", 2)
    assert [x.attempt for x in leases] == [2, 2]
    assert c.release_expired(later(c)) == 2
    p = check_invariants(c, 2)
    assert (p.failed, p.items_failed) == (2, 7)
    assert all("expired" in r.error for r in c.records("failed"))


@any_order
def test_heartbeat_keeps_leases_alive(backend):
    c = backend.create(2)
    leases = c.claim("a", 2)
    time.sleep(0.3)
    c.heartbeat("a")
    # past the first deadline but within the renewed one
    assert c.release_expired(leases[0].deadline + 0.1) == 0
    assert all(c.complete(x, ok()) for x in leases)


def test_reset_failed_gives_failed_batches_a_fresh_budget(backend):
    c = backend.create(3, max_attempts=1, items=[2, 2, 2])
    a, b, d = c.claim("a", 3)
    c.fail(a, "boom")
    c.complete(b, base.Outcome(items=2, succeeded=1, failed=1, error="short"))
    c.complete(d, ok(2))
    p = check_invariants(c, 3)
    assert (p.failed, p.items_failed, p.items_succeeded) == (2, 3, 3)
    assert c.reset_failed() == 2
    p = check_invariants(c, 3)
    assert (p.failed, p.pending, p.items_failed, p.items_succeeded, p.done) == (0, 2, 0, 2, 1)
    assert [(x.index, x.attempt) for x in c.claim("a", 3)] == [(0, 1), (1, 1)]
    assert c.records("failed") == []


def test_records_show_state_owner_attempts_and_errors(backend):
    c = backend.create(4, max_attempts=1)
    a, b, _ = c.claim("a", 3)
    c.complete(a, ok(2))
    c.fail(b, "Traceback: boom")
    recs = {r.index: r for r in c.records()}
    assert [recs[i].state for i in range(4)] == ["done", "failed", "leased", "pending"]
    assert (recs[1].attempts, recs[1].error, recs[1].owner) == (1, "Traceback: boom", "a")
    assert (recs[2].attempts, recs[2].owner) == (1, "a")
    assert [r.index for r in c.records("leased")] == [2]
    assert [r.index for r in c.records("pending")] == [3]


# --- reopening and death ------------------------------------------------------------------


def test_reopen_keeps_done_and_failed(backend):
    c = backend.create(4, max_attempts=1)
    a, b, _ = c.claim("a", 3)
    c.complete(a, ok(5))
    c.fail(b, "boom")
    c.close()
    again = backend.open()
    p = check_invariants(again, 4)
    assert (p.done, p.failed, p.leased, p.items_succeeded) == (1, 1, 1, 5)
    assert again.release_expired(later(again)) == 1  # the lease of the "dead" agent a
    assert [x.index for x in again.claim("b", 10)] == [3]  # index 2 burnt its only attempt
    assert [r.index for r in again.records("failed")] == [1, 2]


def _claim_and_hang(opener, ready):
    c = opener()
    leases = c.claim("victim", 3)
    ready.put([x.index for x in leases])
    time.sleep(600)


def _kill_an_agent_holding_the_first_three(backend):
    """An agent in another process claims mini-batches 0-2, then dies of SIGKILL holding them."""
    ready = FORK.Queue()
    proc = FORK.Process(target=_claim_and_hang, args=(backend.opener(), ready))
    proc.start()
    try:
        assert ready.get(timeout=30) == [0, 1, 2]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()


def test_leases_of_a_killed_agent_are_reclaimed(backend):
    c = backend.create(5)
    _kill_an_agent_holding_the_first_three(backend)
    assert check_invariants(c, 5).leased == 3
    assert c.release_expired(later(c)) == 3
    got = c.claim("survivor", 10)
    assert [(x.index, x.attempt) for x in got] == [(0, 2), (1, 2), (2, 2), (3, 1), (4, 1)]
    assert all(c.complete(x, ok()) for x in got)
    assert check_invariants(c, 5).done == 5


@any_order
def test_an_agent_with_nothing_left_to_claim_takes_back_a_dead_agents_leases(backend):
    """Through the batching layer, as agents run: the survivor ran dry (nothing pending, only
    reads), and must still send a killed agent's leases back once they expire and run them."""
    from pjob.queue import batching

    c = backend.create(5, lease_seconds=2.0)
    _kill_an_agent_holding_the_first_three(backend)
    coord = getattr(c, "coord", c)  # the backend itself, under this test's own Batcher
    survivor = batching.Batcher(coord, "survivor")
    ran = []
    give_up = time.monotonic() + 60
    while len(ran) < 5 and time.monotonic() < give_up:
        got = survivor.claim("survivor", 10)
        assert survivor.complete_many([(x, ok()) for x in got]) == [True] * len(got)
        ran += [(x.index, x.attempt) for x in got]
        time.sleep(0 if got else 0.1)
    survivor.finish()
    assert sorted(ran) == [(0, 2), (1, 2), (2, 2), (3, 1), (4, 1)]
    assert check_invariants(coord, 5).done == 5


def _stress_agent(opener, name, seed, holds, out):
    try:
        out.put(_stress_loop(opener, name, seed, holds))
    except BaseException as exc:  # report, so the parent fails fast with the reason
        out.put((name, repr(exc)))


def _stress_loop(opener, name, seed, holds):
    """Claims, fails, releases and completes at random. While it holds a lease
    it holds an O_EXCL marker file ``holds/<index>``: a second live holder of
    the same mini-batch cannot create it and is recorded as a violation."""
    c = opener()
    rng = random.Random(seed)
    claimed, completed, violations = [], [], []

    def let_go(lease):
        os.unlink(os.path.join(holds, str(lease.index)))

    give_up = time.monotonic() + 60  # a broken backend must fail the test, not hang it
    while time.monotonic() < give_up:
        leases = c.claim(name, rng.randint(1, 6))
        if not leases:
            p = c.counters()
            if p.pending == 0 and p.leased == 0:
                break
            time.sleep(0.005)
            continue
        for lease in leases:
            try:
                os.close(os.open(os.path.join(holds, str(lease.index)), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                violations.append((lease.index, lease.attempt, name))
        claimed += [(x.index, x.attempt) for x in leases]
        to_complete = []
        for lease in leases:
            if rng.random() < 0.15:
                let_go(lease)
                c.fail(lease, "random failure")
            elif rng.random() < 0.1:
                let_go(lease)
                c.release(lease)
            else:
                to_complete.append((lease, ok()))
        for lease, _ in to_complete:
            let_go(lease)
        for (lease, _), accepted in zip(to_complete, c.complete_many(to_complete)):
            if accepted:
                completed.append(lease.index)
    return name, claimed, completed, violations


@any_order
def test_concurrent_processes_never_share_a_lease_and_lose_nothing(backend):
    total, n_agents = backend.stress_total, 4
    c = backend.create(total, max_attempts=10)
    out = FORK.Queue()
    holds = backend.tmp_path / "holds"
    holds.mkdir()
    procs = [
        FORK.Process(target=_stress_agent, args=(backend.opener(), f"agent-{i}", i, str(holds), out))
        for i in range(n_agents)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=90) for _ in procs]
    assert [r for r in results if len(r) == 2] == []  # no agent crashed
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert [v for *_, violations in results for v in violations] == []  # never two live holders
    attempts_seen = [pair for _, claimed, _, _ in results for pair in claimed]
    assert len(attempts_seen) >= total
    completed = sorted(i for _, _, done, _ in results for i in done)
    p = check_invariants(c, total)
    failed = {r.index for r in c.records("failed")}
    assert sorted(set(completed) | failed) == list(range(total))  # nothing lost
    assert len(completed) == len(set(completed)) == p.done  # done exactly once
    assert p.pending == p.leased == 0
