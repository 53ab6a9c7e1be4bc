"""The SQLite backend only stores the queue machine's states: hypothesis
drives a SqliteCoordinator and the reference model (pjob.queue.machine.Queue)
with the same random claims, completions, failures, releases and resets, and
after every step both must agree on every mini-batch and every counter."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pjob.coord import sqlite
from pjob.queue import machine as m
from pjob.queue.protocol import Outcome

TOTAL, MAX_ATTEMPTS = 10, 2
ITEMS = [i % 3 + 1 for i in range(TOTAL)]
OUTCOMES = {"ok": Outcome(2, 2, 0), "short": Outcome(2, 1, 1, error="short")}


class SqliteFollowsMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="pjob-hyp-")
        self.db = sqlite.SqliteCoordinator(
            Path(self.dir) / "queue.db", TOTAL, max_attempts=MAX_ATTEMPTS, items=ITEMS, expiry_check_seconds=1e9
        )
        self.model = m.Queue(TOTAL, MAX_ATTEMPTS, items=ITEMS)
        self.leases = []  # every lease ever handed out, stale ones included

    def teardown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(agent=st.sampled_from("ab"), n=st.integers(1, 3))
    def claim(self, agent, n):
        got = self.db.claim(agent, n)
        want = self.model.claim(agent, n)
        assert [(x.index, x.attempt, x.owner) for x in got] == [(x.index, x.attempt, x.owner) for x in want]
        self.leases += got

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), kind=st.sampled_from(["ok", "short", "fail", "fatal", "release"]))
    def finish(self, data, kind):
        lease = data.draw(st.sampled_from(self.leases))  # maybe stale: both must refuse it alike
        if kind in OUTCOMES:
            ok = self.db.complete(lease, OUTCOMES[kind])
            want = self.model.apply(lease.index, m.Complete(lease.owner, lease.attempt, OUTCOMES[kind]))
        elif kind == "release":
            before = self.db.counters().leased
            self.db.release(lease)
            ok = self.db.counters().leased < before
            want = self.model.apply(lease.index, m.Release(lease.owner, lease.attempt))
        else:
            ok = self.db.fail(lease, "boom", retryable=kind == "fail")
            want = self.model.apply(lease.index, m.Fail(lease.owner, lease.attempt, "boom", kind == "fail"))
        assert ok == want

    @rule()
    def retry_failed(self):
        assert self.db.reset_failed() == self.model.reset_failed()

    @invariant()
    def same_states_and_counters(self):
        p, q = self.db.counters(), self.model.progress
        assert (p.total, p.pending, p.leased, p.done, p.failed, p.items_succeeded, p.items_failed, p.attempts) == (
            q.total,
            q.pending,
            q.leased,
            q.done,
            q.failed,
            q.items_succeeded,
            q.items_failed,
            q.attempts,
        )
        stored = [(r.index, r.state, r.attempts, r.items_succeeded, r.items_failed) for r in self.db.records()]
        model = [(b.index, b.state, b.attempts, b.succeeded, b.failed) for b in self.model.batches.values()]
        assert stored == model


TestSqliteFollowsMachine = SqliteFollowsMachine.TestCase
TestSqliteFollowsMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
