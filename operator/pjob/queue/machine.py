"""The queue's rules, as one pure state machine over mini-batches: the only
place that decides what claim, complete, fail, release, expiry of an agent and
``--retry-failed`` do. ``step(batch, event, max_attempts)`` returns the
mini-batch's next state and the change to the queue's counters, or None when
the event does not apply (a stale lease, a mini-batch not pending, ...).

The backends (``pjob.coord.sqlite`` under ``BEGIN IMMEDIATE``,
``pjob.coord.kube_state`` under the ConfigMap's ``resourceVersion``) load the
mini-batches an event touches, call ``step`` and store what it returns; which
mini-batches a claim takes is ``claim_order`` (lowest index first). ``Queue``
is the whole queue in memory (the reference model the property tests and
``bench/queue_size.py`` drive).

States: pending -> leased(owner, attempt) -> done | failed, or back to pending
when an attempt fails with attempts left, the lease is released (attempt given
back) or its agent is gone (attempt kept). done is final; failed is final
except for ``Reset`` (``--retry-failed``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import NamedTuple

from pjob.queue import protocol

PENDING, LEASED, DONE, FAILED = protocol.STATES


class Batch(NamedTuple):
    """What the queue knows about one mini-batch (a named tuple: this runs
    once or twice per mini-batch in an agent, and tuples are cheap)."""

    index: int  # type: ignore[assignment]  # a field named like tuple.index, kept for readers
    state: str = PENDING
    attempts: int = 0  # attempts that count (a released one does not)
    owner: str | None = None  # the agent holding it (leased) or that last held it
    items: int = 0  # planned item count (an estimate for byte ranges, -1 unknown)
    succeeded: int = 0  # items counted succeeded / failed once final
    failed: int = 0
    error: str | None = None


class Delta(NamedTuple):
    """The change an event makes to the queue's counters (``protocol.Progress``)."""

    pending: int = 0
    leased: int = 0
    done: int = 0
    failed: int = 0
    items_succeeded: int = 0
    items_failed: int = 0
    attempts: int = 0
    progress: bool = False  # last_progress moves (a mini-batch finished or went back)

    def __add__(self, other: Delta) -> Delta:  # type: ignore[override]
        # field by field: dataclasses.astuple deep-copies, and this runs once per mini-batch in an agent
        return Delta(
            self.pending + other.pending,
            self.leased + other.leased,
            self.done + other.done,
            self.failed + other.failed,
            self.items_succeeded + other.items_succeeded,
            self.items_failed + other.items_failed,
            self.attempts + other.attempts,
            progress=self.progress or other.progress,
        )

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self._fields if name != "progress"}


# --- events --------------------------------------------------------------------------


class Claim(NamedTuple):
    agent: str


class Complete(NamedTuple):
    agent: str
    attempt: int
    outcome: protocol.Outcome


class Fail(NamedTuple):
    agent: str
    attempt: int
    error: str
    retryable: bool = True
    items: int | None = None  # what the attempt held once read; replaces the planned count


class Release(NamedTuple):
    agent: str
    attempt: int


class Expire(NamedTuple):
    """``agent`` is gone (no heartbeat for a lease duration, or its process died)."""

    agent: str


class Reset(NamedTuple):
    """``--retry-failed``: a final failure gets a fresh attempt budget."""


Event = Claim | Complete | Fail | Release | Expire | Reset
protocol.as_values(Claim, Complete, Fail, Release, Expire, Reset)  # compare like frozen dataclasses


def expired_error(agent: str) -> str:
    return f"lease expired: agent {agent} stopped heartbeating or died"


def is_final_failure(outcome: protocol.Outcome) -> bool:
    """A short return (failed items, or an error) is final, never retried."""
    return outcome.failed > 0 or outcome.error is not None


def step(batch: Batch, event: Event, max_attempts: int) -> tuple[Batch, Delta] | None:
    """THE rules of the queue. None: the event does not apply to ``batch``."""
    index, state, attempts, owner, items = batch.index, batch.state, batch.attempts, batch.owner, batch.items
    if isinstance(event, Claim):
        if state != PENDING:
            return None
        return (
            Batch(index, LEASED, attempts + 1, event.agent, items, batch.succeeded, batch.failed, batch.error),
            _CLAIMED,
        )
    if isinstance(event, Reset):
        if state != FAILED:
            return None
        return (
            Batch(index, PENDING, 0, owner, items),
            Delta(failed=-1, pending=1, items_succeeded=-batch.succeeded, items_failed=-batch.failed),
        )
    if isinstance(event, Expire):
        if state != LEASED or owner != event.agent:
            return None
        return _attempt_lost(batch, expired_error(event.agent), final=attempts >= max_attempts, items=None)
    # the rest act on a lease: only its holder, with that very attempt (a stale lease changes nothing)
    if state != LEASED or owner != event.agent or attempts != event.attempt:
        return None
    if isinstance(event, Complete):
        o = event.outcome
        if is_final_failure(o):
            return (
                Batch(index, FAILED, attempts, owner, items, o.succeeded, o.failed, o.error),
                Delta(leased=-1, failed=1, items_succeeded=o.succeeded, items_failed=o.failed, progress=True),
            )
        return (
            Batch(index, DONE, attempts, owner, items, o.succeeded, o.failed, o.error),
            Delta(leased=-1, done=1, items_succeeded=o.succeeded, items_failed=o.failed, progress=True),
        )
    if isinstance(event, Fail):
        final = not event.retryable or attempts >= max_attempts
        return _attempt_lost(batch, event.error, final, event.items)
    if isinstance(event, Release):
        return Batch(index, PENDING, attempts - 1, owner, items, batch.succeeded, batch.failed, batch.error), _RELEASED
    raise TypeError(f"not a queue event: {event!r}")


_CLAIMED = Delta(pending=-1, leased=1, attempts=1)
_RELEASED = Delta(leased=-1, pending=1, attempts=-1)


def _attempt_lost(batch: Batch, error: str, final: bool, items: int | None) -> tuple[Batch, Delta]:
    """An attempt failed or its agent died: the attempt stays burnt; final when none are left."""
    if not final:
        return batch._replace(state=PENDING, error=error, failed=0), Delta(leased=-1, pending=1, progress=True)
    bad = max(batch.items if items is None else items, 0)
    return (
        batch._replace(state=FAILED, error=error, succeeded=0, failed=bad),
        Delta(leased=-1, failed=1, items_failed=bad, progress=True),
    )


def total(deltas: Iterable[Delta]) -> Delta:
    """The sum of many deltas, for one write of the counters per transaction."""
    sums = [sum(column) for column in zip(*deltas)]
    return Delta._make([*sums[:-1], bool(sums[-1])]) if sums else Delta()


def claim_order(pending: Iterable[int], n: int) -> list[int]:
    """Which pending mini-batches a claim of ``n`` takes: the lowest indexes."""
    return sorted(pending)[: max(n, 0)]


def add(progress: protocol.Progress, delta: Delta, now: float) -> protocol.Progress:
    """Counters after ``delta``."""
    values = {k: getattr(progress, k) + v for k, v in delta.counts().items()}
    return dataclasses.replace(progress, **values, last_progress=now if delta.progress else progress.last_progress)


class Queue:
    """A whole queue in memory: a dict of ``Batch`` plus counters, changed
    only through ``step``. The reference model of the property tests."""

    def __init__(self, total: int, max_attempts: int = 3, items: list[int] | None = None):
        self.max_attempts = max_attempts
        self.batches = {i: Batch(i, items=items[i] if items else 0) for i in range(total)}
        self.progress = protocol.Progress(total=total, pending=total)

    def apply(self, index: int, event: Event, now: float = 0.0) -> bool:
        result = step(self.batches[index], event, self.max_attempts)
        if result is None:
            return False
        self.batches[index], delta = result
        self.progress = add(self.progress, delta, now)
        return True

    def claim(self, agent: str, n: int, now: float = 0.0) -> list[protocol.Lease]:
        pending = (i for i, b in self.batches.items() if b.state == PENDING)
        taken = [i for i in claim_order(pending, n) if self.apply(i, Claim(agent), now)]
        return [protocol.Lease(i, self.batches[i].attempts, agent, 0.0) for i in taken]

    def expire(self, agent: str, now: float = 0.0) -> int:
        held = [i for i, b in self.batches.items() if b.state == LEASED and b.owner == agent]
        return sum(self.apply(i, Expire(agent), now) for i in held)

    def reset_failed(self) -> int:
        failed = [i for i, b in self.batches.items() if b.state == FAILED]
        return sum(self.apply(i, Reset()) for i in failed)
