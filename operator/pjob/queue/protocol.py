"""The Coordinator protocol: the one seam between agents and the queue of
mini-batches. Its rules are the pure machine ``pjob.queue.machine``.
Backends: ``pjob.coord.sqlite`` (local runs, a file in the run folder) and
``pjob.coord.kube`` (ConfigMaps/Leases). Every backend passes the
shared behavioural suite in ``tests/unit/test_coordinator_contract.py``.

State of one mini-batch: pending -> leased(owner, attempt, deadline) -> done |
failed, or back to pending when a lease expires / is released / an attempt
fails with attempts left. ``done`` and ``failed`` are final (except an explicit
``reset_failed`` for ``--retry-failed``).

Attempts: a lease is an attempt (``claim`` burns one); ``fail`` and lease
expiry keep it burnt, ``release`` gives it back. ``complete`` with
``outcome.failed > 0`` or ``outcome.error`` (a short return) is a final
failure, not retried. Agents call ``heartbeat`` every few seconds (well within
``lease_seconds``) and ``close`` when they stop: the kube backend buffers
outcomes and reserves mini-batches ahead, and ``close`` writes/hands them back.

Batching (claim-ahead and write-behind outcomes) is one layer,
``pjob.queue.batching.Batcher``, the agent's side of this seam: it buffers
outcomes and reserves mini-batches ahead, and writes them through
``Coordinator.commit`` (one transaction or API write: reports plus a claim)
as each backend's ``Batching`` settings say. Backends batch nothing themselves.

Only small records cross this seam: indexes, counts, short error strings.
The frozen ones are named tuples that compare like frozen dataclasses
(``as_values``): cheaper to define at import (~0.1 ms against ~0.5 ms each,
on the way to the first run()) and to make, one per mini-batch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, Protocol


class Lease(NamedTuple):
    index: int  # type: ignore[assignment]  # mini-batch index (the field hides tuple.index)
    attempt: int  # 1-based attempt number of this lease
    owner: str  # agent id
    deadline: float  # epoch seconds; the lease expires after this unless the agent heartbeats


@dataclasses.dataclass
class Outcome:
    """Result of one finished run() call of one mini-batch."""

    items: int  # inputs in the mini-batch
    succeeded: int  # min(returns, items)
    failed: int  # items - succeeded
    elapsed: float = 0.0
    error: str | None = None  # set for short returns (not retried)


@dataclasses.dataclass
class Progress:
    total: int = 0
    pending: int = 0
    leased: int = 0
    done: int = 0  # finished, all items succeeded
    failed: int = 0  # final failures (attempts exhausted) + short-return mini-batches
    items_succeeded: int = 0
    items_failed: int = 0
    attempts: int = 0  # attempts started, all mini-batches
    last_progress: float = 0.0  # epoch seconds of the last complete/fail


class BatchRecord(NamedTuple):
    """What a backend remembers about one finished-or-failed mini-batch
    (``Coordinator.records``): enough for ``failed_mini_batches.jsonl``."""

    index: int  # type: ignore[assignment]  # the field hides tuple.index
    state: str  # pending | leased | done | failed
    attempts: int  # attempts that counted (released ones do not)
    owner: str | None  # last agent that held it
    error: str | None  # last error (exception text, "lease expired", short-return message)
    items_succeeded: int = 0
    items_failed: int = 0


STATES = ("pending", "leased", "done", "failed")


class Report(NamedTuple):
    """What became of one lease, as ``Batcher`` buffers it for ``commit``
    (a named tuple: one is made per mini-batch)."""

    lease: Lease
    kind: Literal["complete", "fail", "release"]
    outcome: Outcome | None = None  # complete
    error: str = ""  # fail
    retryable: bool = True  # fail
    items: int | None = None  # fail: what the attempt held once its data was read


class ClaimRequest(NamedTuple):
    """A claim inside ``commit``: ``need`` now; the backend reserves up to
    ``pjob.queue.batching.claim_ahead(need, prefetch, pending, agents, rate,
    horizon)`` with its own ``pending`` and ``agents``."""

    need: int
    prefetch: int = 0
    rate: float = 0.0  # this agent's mini-batches per second so far (0: not known yet)
    horizon: float = 0.0  # seconds of work one claim should cover


class Batching(NamedTuple):
    """How far ``pjob.queue.batching.Batcher`` batches against a backend
    (each write costs a SQLite transaction or an API call)."""

    prefetch: int = 0  # the most one claim reserves ahead (0: exactly what is needed)
    flush_seconds: float = 0.05  # the longest an outcome waits in the buffer
    flush_max: int = 256  # buffered outcomes that force a write
    drain_jitter: float = 0.0  # seconds: a random pause before an agent's last write (spreads them)
    renew_seconds: float = math.inf  # buffered outcomes go out at least this often (a write is a heartbeat)


def _eq(self: tuple[Any, ...], other: object) -> bool:
    if type(other) is type(self):
        return tuple.__eq__(self, other)
    return False if isinstance(other, tuple) else NotImplemented  # not even to a plain tuple of its fields


def _ne(self: tuple[Any, ...], other: object) -> bool:
    if type(other) is type(self):
        return tuple.__ne__(self, other)
    return True if isinstance(other, tuple) else NotImplemented


def _unordered(self: tuple[Any, ...], other: object) -> bool:
    return NotImplemented


def _true(self: tuple[Any, ...]) -> bool:
    return True


def as_values(*classes: type[tuple[Any, ...]]) -> None:
    """Named-tuple ``classes`` compare like frozen dataclasses: equal only to
    a value of the same class (not to another class's nor a plain tuple with
    the same fields), unordered (TypeError), never false (an empty one too).
    ``match`` class patterns work (``__match_args__``); like any tuple they
    can also be unpacked and indexed, which pjob does not do."""
    for cls in classes:
        for name, method in (("__eq__", _eq), ("__ne__", _ne), ("__bool__", _true)):
            setattr(cls, name, method)
        for name in ("__lt__", "__le__", "__gt__", "__ge__"):
            setattr(cls, name, _unordered)


as_values(Lease, BatchRecord, ClaimRequest, Batching)


class Coordinator(Protocol):
    def claim(self, agent: str, max_n: int) -> list[Lease]: ...

    def complete(self, lease: Lease, outcome: Outcome) -> bool:
        """Record a finished mini-batch. Returns False (and records nothing)
        when the lease is no longer held by its owner (it expired and was
        re-leased): done is final and counted once."""

    def fail(self, lease: Lease, error: str, retryable: bool = True, items: int | None = None) -> bool:
        """An attempt failed. With attempts left and retryable it goes back to
        pending; otherwise it is final-failed. False when the lease is stale.
        ``items``: what the attempt held once its data was read; it replaces
        the planned count (an estimate for byte ranges, -1 for partition keys
        from folder names) in the failed items of a final failure."""

    def release(self, lease: Lease) -> None:
        """Hand a mini-batch back without burning an attempt (SIGTERM/preemption)."""

    def heartbeat(self, agent: str) -> None: ...

    def release_expired(self, now: float) -> int:
        """Expired leases go back to pending (the attempt counts). Returns how many."""

    def counters(self) -> Progress: ...

    # --- extensions beyond the original protocol (both backends implement them) ---

    def complete_many(self, results: list[tuple[Lease, Outcome]]) -> list[bool]:
        """``complete`` for several leases in one transaction/write; one bool
        per pair, in order. Agents batch outcomes to keep per-batch cost low."""

    def reset_failed(self) -> int:
        """``--retry-failed``: final-failed mini-batches go back to pending with
        a fresh attempt budget (their item counts are taken off the counters).
        Returns how many."""

    def records(self, state: str | None = None) -> list[BatchRecord]:
        """Per-mini-batch records, by index; ``state`` filters (e.g. "failed")."""

    def close(self) -> None: ...

    # --- the batching layer's entry points ---

    @property
    def batching(self) -> Batching:
        """How far ``pjob.queue.batching.Batcher`` batches against this backend."""

    def commit(
        self, agent: str, reports: Sequence[Report], claim: ClaimRequest | None = None, closing: bool = False
    ) -> tuple[list[bool], list[Lease]]:
        """``reports`` (in order; one bool each: False for a stale lease) and
        then ``claim``, in one transaction/write. ``closing``: the agent is
        going away; a backend may give up sooner on an outage."""

    def pending_now(self) -> int:
        """Pending mini-batches as read now (no cache): the batching layer's
        "nothing left to claim" without a write."""

    def safe_until(self, agent: str) -> float:
        """Wall time until which ``agent``'s leases surely stand in everyone's
        eyes: outcomes may be answered from the buffer until then."""
