"""The queue's pure machine (pjob.queue.machine): a table of single steps, then
hypothesis driving a whole queue with random interleavings of claims,
completions, failures, releases, expiries (agent deaths) and resets, checking
the contract's invariants after every step: never leased to two live agents,
nothing lost, attempts counted, done is final, counters equal the states."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pjob.queue import machine as m
from pjob.queue.protocol import Outcome

OK = Outcome(items=2, succeeded=2, failed=0)
SHORT = Outcome(items=2, succeeded=1, failed=1, error="short")
HELD = m.Batch(7, m.LEASED, attempts=2, owner="a", items=5)

STEPS = [
    # (batch, event, max_attempts) -> (state, attempts, delta) or None
    (m.Batch(7, items=5), m.Claim("a"), 3, (m.LEASED, 1, m.Delta(pending=-1, leased=1, attempts=1))),
    (HELD, m.Claim("b"), 3, None),
    (HELD, m.Complete("a", 2, OK), 3, (m.DONE, 2, m.Delta(leased=-1, done=1, items_succeeded=2, progress=True))),
    (
        HELD,
        m.Complete("a", 2, SHORT),
        3,
        (m.FAILED, 2, m.Delta(leased=-1, failed=1, items_succeeded=1, items_failed=1, progress=True)),
    ),
    (HELD, m.Complete("a", 1, OK), 3, None),  # an older attempt of the same agent
    (HELD, m.Complete("b", 2, OK), 3, None),  # someone else's lease
    (HELD, m.Fail("a", 2, "boom"), 3, (m.PENDING, 2, m.Delta(leased=-1, pending=1, progress=True))),
    (HELD, m.Fail("a", 2, "boom"), 2, (m.FAILED, 2, m.Delta(leased=-1, failed=1, items_failed=5, progress=True))),
    (
        HELD,
        m.Fail("a", 2, "boom", retryable=False),
        3,
        (m.FAILED, 2, m.Delta(leased=-1, failed=1, items_failed=5, progress=True)),
    ),
    (
        HELD,
        m.Fail("a", 2, "boom", retryable=False, items=9),
        3,
        (m.FAILED, 2, m.Delta(leased=-1, failed=1, items_failed=9, progress=True)),
    ),
    (HELD, m.Release("a", 2), 3, (m.PENDING, 1, m.Delta(leased=-1, pending=1, attempts=-1))),
    (HELD, m.Expire("a"), 3, (m.PENDING, 2, m.Delta(leased=-1, pending=1, progress=True))),
    (HELD, m.Expire("a"), 2, (m.FAILED, 2, m.Delta(leased=-1, failed=1, items_failed=5, progress=True))),
    (HELD, m.Expire("b"), 3, None),
    (m.Batch(7, m.DONE, 1, "a"), m.Reset(), 3, None),  # done is final
    (m.Batch(7, m.DONE, 1, "a"), m.Expire("a"), 3, None),
    (
        m.Batch(7, m.FAILED, 3, "a", succeeded=1, failed=4),
        m.Reset(),
        3,
        (m.PENDING, 0, m.Delta(failed=-1, pending=1, items_succeeded=-1, items_failed=-4)),
    ),
]


@pytest.mark.parametrize("batch, event, max_attempts, expected", STEPS)
def test_step(batch, event, max_attempts, expected):
    got = m.step(batch, event, max_attempts)
    if expected is None:
        assert got is None
        return
    new, delta = got
    assert (new.state, new.attempts, delta) == expected
    assert new.index == batch.index


def test_expiry_names_the_agent_and_a_failed_attempt_keeps_its_error():
    new, _ = m.step(HELD, m.Expire("a"), 3)
    assert new.error == "lease expired: agent a stopped heartbeating or died"
    new, _ = m.step(HELD, m.Fail("a", 2, "boom"), 3)
    assert (new.state, new.error) == (m.PENDING, "boom")


def test_claims_take_the_lowest_pending_indexes():
    q = m.Queue(6)
    assert [x.index for x in q.claim("a", 2)] == [0, 1]
    q.apply(0, m.Release("a", 1))
    assert [x.index for x in q.claim("b", 3)] == [0, 2, 3]


AGENTS = ("a", "b", "c")
TOTAL = 12


class QueueMachine(RuleBasedStateMachine):
    """Random interleavings against the reference queue; the test keeps its own
    book of what was handed out and finished to check the queue against."""

    def __init__(self):
        super().__init__()
        self.max_attempts = 2
        self.q = m.Queue(TOTAL, self.max_attempts, items=[i % 3 for i in range(TOTAL)])
        self.live: dict[int, tuple[str, int]] = {}  # index -> (agent, attempt) of the one valid lease
        self.stale: list[tuple[int, str, int]] = []  # leases that lost their validity
        self.done: set[int] = set()
        self.started = 0  # attempts started and not given back

    def _lose(self, index):
        agent, attempt = self.live.pop(index)
        self.stale.append((index, agent, attempt))

    @rule(agent=st.sampled_from(AGENTS), n=st.integers(0, 4))
    def claim(self, agent, n):
        before = {i for i, b in self.q.batches.items() if b.state == m.PENDING}
        leases = self.q.claim(agent, n)
        assert [x.index for x in leases] == sorted(before)[:n]
        for lease in leases:
            assert lease.index not in self.live  # never leased to two live agents
            self.live[lease.index] = (agent, lease.attempt)
        self.started += len(leases)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), kind=st.sampled_from(["ok", "short", "fail", "fatal", "release"]))
    def finish(self, data, kind):
        index = data.draw(st.sampled_from(sorted(self.live)))
        agent, attempt = self.live[index]
        event = {
            "ok": m.Complete(agent, attempt, OK),
            "short": m.Complete(agent, attempt, SHORT),
            "fail": m.Fail(agent, attempt, "boom"),
            "fatal": m.Fail(agent, attempt, "boom", retryable=False),
            "release": m.Release(agent, attempt),
        }[kind]
        assert self.q.apply(index, event)
        self._lose(index)
        if kind == "ok":
            self.done.add(index)
        if kind == "release":
            self.started -= 1

    @rule(agent=st.sampled_from(AGENTS))
    def agent_dies(self, agent):
        held = sorted(i for i, (a, _) in self.live.items() if a == agent)
        assert self.q.expire(agent) == len(held)
        for index in held:
            self._lose(index)

    @precondition(lambda self: self.stale)
    @rule(data=st.data(), kind=st.sampled_from(["ok", "fail", "release"]))
    def stale_lease_changes_nothing(self, data, kind):
        index, agent, attempt = data.draw(st.sampled_from(self.stale))
        if self.live.get(index) == (agent, attempt):
            return
        event = {
            "ok": m.Complete(agent, attempt, OK),
            "fail": m.Fail(agent, attempt, "late"),
            "release": m.Release(agent, attempt),
        }[kind]
        before = (self.q.batches[index], self.q.progress)
        assert not self.q.apply(index, event)
        assert (self.q.batches[index], self.q.progress) == before

    @rule()
    def retry_failed(self):
        self.q.reset_failed()

    @invariant()
    def counters_are_the_states(self):
        p, batches = self.q.progress, self.q.batches.values()
        assert len(self.q.batches) == p.total == TOTAL  # nothing lost
        for state in m.PENDING, m.LEASED, m.DONE, m.FAILED:
            assert getattr(p, state) == sum(b.state == state for b in batches), state
        assert p.items_succeeded == sum(b.succeeded for b in batches if b.state in (m.DONE, m.FAILED))
        assert p.items_failed == sum(b.failed for b in batches if b.state in (m.DONE, m.FAILED))

    @invariant()
    def leases_attempts_and_done(self):
        leased = {i: (b.owner, b.attempts) for i, b in self.q.batches.items() if b.state == m.LEASED}
        assert leased == self.live  # exactly the live leases, one holder each
        assert self.q.progress.attempts == self.started  # every attempt counted, released ones given back
        assert all(self.q.batches[i].state == m.DONE for i in self.done)  # done is final
        assert all(b.attempts <= self.max_attempts for b in self.q.batches.values())


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@pytest.mark.parametrize(
    "need, prefetch, pending, agents, rate, horizon, expected",
    [
        (3, 0, 1000, 4, 0.0, 10.0, 3),  # no prefetch: exactly what is asked
        (3, 64, 10_000, 8, 0.0, 10.0, 64),  # no rate yet: prefetch
        (3, 2048, 10_000, 8, 0.0, 10.0, 625),  # ... or half a fair share
        (3, 2048, 40, 3, 0.0, 10.0, 6),  # a small job is shared out
        (3, 2048, 10_000, 8, 50.0, 10.0, 500),  # 10 s of work at the observed rate
        (3, 64, 10_000, 8, 50.0, 10.0, 64),  # never more than prefetch (what one agent may hold)
        (3, 2048, 3_200, 8, 50.0, 10.0, 400),  # but a fair share of what is left
        (3, 2048, 800, 8, 50.0, 10.0, 125),  # the tail: a quarter of the horizon each
        (3, 2048, 20, 8, 50.0, 10.0, 20),  # never more than is left
        (3, 2048, 4_000, 8, 3_000.0, 10.0, 2048),  # a fast agent's quarter horizon is past prefetch: prefetch
        (30, 2048, 20, 8, 50.0, 10.0, 30),  # nor less than asked
    ],
)
def test_claim_ahead(need, prefetch, pending, agents, rate, horizon, expected):
    from pjob.queue import batching

    assert batching.claim_ahead(need, prefetch, pending, agents, rate, horizon) == expected
