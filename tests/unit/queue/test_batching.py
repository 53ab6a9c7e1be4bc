"""The one batching layer (pjob.queue.batching.Batcher) against a fake backend
that records every commit: claims reserve ahead and hand out from the
reservoir, outcomes are written behind and ride on the next claim, a lease
that may have expired is answered by the backend at once, an agent that ran
dry writes once, and finish hands the reservoir back."""

from __future__ import annotations

import math

from pjob.queue import batching, machine, protocol

OK = protocol.Outcome(1, 1, 0)


class FakeBackend:
    """A queue.machine.Queue behind the commit seam, counting writes."""

    def __init__(self, total: int, settings: protocol.Batching, safe: float = math.inf):
        self.queue = machine.Queue(total)
        self.batching = settings
        self.safe = safe
        self.commits: list[tuple[int, int]] = []  # (reports, claimed) per write

    def commit(self, agent, reports, claim=None, closing=False):
        accepted = []
        for r in reports:
            if r.kind == "complete":
                event = machine.Complete(agent, r.lease.attempt, r.outcome)
            elif r.kind == "fail":
                event = machine.Fail(agent, r.lease.attempt, r.error, r.retryable, r.items)
            else:
                event = machine.Release(agent, r.lease.attempt)
            accepted.append(self.queue.apply(r.lease.index, event))
        leases = []
        if claim is not None:
            p = self.queue.progress
            n = batching.claim_ahead(claim.need, claim.prefetch, p.pending, 1, claim.rate, claim.horizon)
            leases = self.queue.claim(agent, n)
        self.commits.append((len(reports), len(leases)))
        return accepted, leases

    def safe_until(self, agent):
        return self.safe

    def pending_now(self):
        return self.queue.progress.pending

    def heartbeat(self, agent):
        pass

    def counters(self):
        return self.queue.progress


def test_claims_reserve_ahead_and_outcomes_ride_on_the_next_claim():
    backend = FakeBackend(100, protocol.Batching(prefetch=16, flush_seconds=60.0, flush_max=1000))
    b = batching.Batcher(backend, "a")
    first = b.claim("a", 2)
    assert [x.index for x in first] == [0, 1] and backend.commits == [(0, 16)]  # 16 reserved
    assert [x.index for x in b.claim("a", 14)] == list(range(2, 16)) and len(backend.commits) == 1
    assert [b.complete(x, OK) for x in first] == [True, True] and len(backend.commits) == 1  # behind
    b.claim("a", 1)
    assert backend.commits[-1] == (2, 16)  # one write: both outcomes and the next claim
    assert backend.queue.progress.done == 2


def test_a_full_buffer_is_written_and_a_stale_outcome_is_refused():
    backend = FakeBackend(10, protocol.Batching(prefetch=0, flush_seconds=60.0, flush_max=3))
    b = batching.Batcher(backend, "a")
    leases = b.claim("a", 5)
    assert [b.complete(x, OK) for x in leases[:3]] == [True] * 3
    assert backend.commits[-1] == (3, 0)  # flush_max reached
    assert b.complete(leases[0], OK) is False  # already reported
    assert b.complete(protocol.Lease(9, 1, "a", 0.0), OK) is False  # never handed out


def test_when_the_lease_may_have_expired_the_backend_answers_at_once():
    backend = FakeBackend(3, protocol.Batching(prefetch=0, flush_seconds=60.0), safe=-math.inf)
    b = batching.Batcher(backend, "a")
    (lease,) = b.claim("a", 1)
    backend.queue.expire("a")  # someone judged the agent gone
    assert b.complete(lease, OK) is False and backend.commits[-1] == (1, 0)


def test_an_agent_that_ran_dry_writes_once_and_finish_hands_back_the_reservoir():
    backend = FakeBackend(4, protocol.Batching(prefetch=0, flush_seconds=60.0))
    b = batching.Batcher(backend, "a")
    leases = b.claim("a", 4)
    assert b.claim("a", 1) == [] and b.drained  # a read said nothing is left: no write
    writes = len(backend.commits)
    for x in leases:
        b.complete(x, OK)
    assert len(backend.commits) == writes + 1  # the last one held: one write for all four
    assert backend.queue.progress.done == 4

    backend = FakeBackend(10, protocol.Batching(prefetch=8, flush_seconds=60.0))
    b = batching.Batcher(backend, "a")
    (lease,) = b.claim("a", 1)
    b.complete(lease, OK)
    b.finish()
    p = backend.queue.progress
    assert (p.done, p.leased, p.pending, p.attempts) == (1, 0, 9, 1)  # 7 reserved went back unburnt


def test_the_rate_that_sizes_claims_is_known_after_0_2_s_or_after_enough_outcomes():
    now = [100.0]
    backend = FakeBackend(1000, protocol.Batching(prefetch=0, flush_seconds=60.0, flush_max=10_000))
    b = batching.Batcher(backend, "a", monotonic=lambda: now[0])
    leases = b.claim("a", 1000)
    b.complete(leases[0], OK)
    now[0] += 0.05
    b.complete_many([(x, OK) for x in leases[1:10]])
    assert b.rate() == 0.0  # 10 outcomes in 0.05 s: not yet a rate
    now[0] += 0.1
    assert b.rate() == 0.0  # 0.15 s: still not
    now[0] += 0.1
    assert math.isclose(b.rate(), 9 / 0.25)
    fast = batching.Batcher(FakeBackend(1000, backend.batching), "b", monotonic=lambda: now[0])
    leases = fast.claim("b", 1000)
    fast.complete(leases[0], OK)
    now[0] += 0.02
    fast.complete_many([(x, OK) for x in leases[1 : batching.RATE_SAMPLE - 1]])
    assert fast.rate() == 0.0  # one short of the sample
    fast.complete(leases[batching.RATE_SAMPLE - 1], OK)
    assert math.isclose(fast.rate(), (batching.RATE_SAMPLE - 1) / 0.02)  # a fast job knows its rate in 20 ms
