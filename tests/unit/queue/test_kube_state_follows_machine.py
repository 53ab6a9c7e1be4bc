"""The Kubernetes backend's encoding only stores the queue machine's states:
hypothesis drives ``pjob.coord.kube_state.QueueState`` (encoded and decoded
after every step, as each write to the ConfigMap does, its journal folded
into shards of 4 mini-batches whenever it holds 2 entries) and the reference
model (pjob.queue.machine.Queue) with the same random claims, completions,
failures, releases, agent deaths and resets; both must agree on the state of
every mini-batch and on every counter."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pjob.coord import kube_shards, kube_state
from pjob.queue import machine as m
from pjob.queue.protocol import Outcome

TOTAL, MAX_ATTEMPTS = 12, 2
ITEMS = [i % 3 + 1 for i in range(TOTAL)]
OUTCOMES = {"ok": Outcome(2, 2, 0), "short": Outcome(2, 1, 1, error="short")}


class KubeStateFollowsMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = kube_shards.MemoryShards()  # shards of 4 mini-batches, folded as often as can be
        self.state = kube_state.QueueState(total=TOTAL, max_attempts=MAX_ATTEMPTS, shard_size=4)
        self.state.load_shard = self.store.load
        self.model = m.Queue(TOTAL, MAX_ATTEMPTS, items=ITEMS)
        self.leases = []  # (agent, index, attempt), stale ones included

    def _roundtrip(self):
        self.state.close_write()
        if len(self.state.journal) >= 2:
            self.state.fold(self.store.load, self.store.save)
        self.state = kube_state.QueueState.decode(self.state.encode(), load_shard=self.store.load)

    @rule(agent=st.sampled_from("abc"), n=st.integers(1, 4))
    def claim(self, agent, n):
        got = self.state.claim(agent, n)
        want = self.model.claim(agent, n)
        assert got == [(x.index, x.attempt) for x in want]
        self.leases += [(agent, i, a) for i, a in got]
        self._roundtrip()

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), kind=st.sampled_from(["ok", "short", "fail", "fatal", "release"]))
    def finish(self, data, kind):
        agent, index, attempt = data.draw(st.sampled_from(self.leases))
        if kind in OUTCOMES:
            ok = self.state.complete(agent, index, attempt, OUTCOMES[kind], now=1.0)
            want = self.model.apply(index, m.Complete(agent, attempt, OUTCOMES[kind]))
        elif kind == "release":
            ok = self.state.release(agent, index, attempt)
            want = self.model.apply(index, m.Release(agent, attempt))
        else:
            ok = self.state.fail(agent, index, attempt, "boom", kind == "fail", ITEMS[index], now=1.0)
            want = self.model.apply(index, m.Fail(agent, attempt, "boom", kind == "fail"))
        assert ok == want
        self._roundtrip()

    @rule(agent=st.sampled_from("abc"))
    def agent_dies(self, agent):
        assert self.state.expire_agent(agent, ITEMS.__getitem__, now=2.0) == self.model.expire(agent)
        self._roundtrip()

    @rule()
    def retry_failed(self):
        assert self.state.reset_failed() == self.model.reset_failed()
        self._roundtrip()

    @invariant()
    def same_states_and_counters(self):
        p, q = self.state.progress(), self.model.progress
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
        assert [(r.index, r.state) for r in self.state.records()] == [
            (b.index, b.state) for b in self.model.batches.values()
        ]
        leased = {(r.index, r.owner, r.attempts) for r in self.state.records("leased")}
        assert leased == {(b.index, b.owner, b.attempts) for b in self.model.batches.values() if b.state == m.LEASED}


TestKubeStateFollowsMachine = KubeStateFollowsMachine.TestCase
TestKubeStateFollowsMachine.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
