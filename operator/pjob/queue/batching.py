"""The one batching layer between an agent and the queue: claim-ahead and
write-behind outcomes, for every backend (``pjob.coord.sqlite``,
``pjob.coord.kube``). Backends batch nothing themselves: they offer
``Coordinator.commit`` (reports plus a claim in one transaction or API write)
and say how far to batch (``Coordinator.batching``); ``Batcher`` decides
when to write, from the pure rules below.

- ``claim_ahead``: how many mini-batches one claim reserves. Enough for this
  agent's observed rate over ``horizon`` seconds (the write-behind interval,
  so one write carries the claim, the buffered outcomes and the heartbeat),
  never more than a fair share of what is left (and at the tail a quarter of
  that), so other agents do not wait long at the end; before any rate is
  known, up to ``prefetch`` (half a fair share). A backend evaluates it inside
  its transaction, with its own counts of pending mini-batches and agents.
- ``write_due``: whether buffered outcomes must be written now.
- ``Batcher``: the agent's side of the seam (it is a ``Coordinator`` too).
  ``claim`` hands out leases from a reservoir and refills it with one
  ``commit`` that also carries the buffered outcomes; ``complete``/``fail``/
  ``release`` are checked against what it handed out and buffered, answered
  from the buffer only while the backend says the agent's leases surely stand
  (``safe_until``), otherwise written at once and the backend's answer
  returned. ``before_write`` runs before every write (the agent flushes its
  report rows: an attempt the queue knows of is in the job's report).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence

from pjob.queue import protocol

log = logging.getLogger(__name__)


RATE_SAMPLE = 100  # outcomes that make a rate known before 0.2 s have passed


def claim_ahead(need: int, prefetch: int, pending: int, agents: int, rate: float, horizon: float) -> int:
    """Mini-batches to claim when the agent asks for ``need`` (``prefetch`` <=
    ``need`` claims exactly ``need``: the strict protocol order)."""
    if prefetch <= need:
        return need
    agents = max(agents, 1)
    if rate <= 0:  # no rate yet: up to prefetch, half a fair share (the others may be starting too)
        return max(need, min(prefetch, pending // (2 * agents)))
    horizon_work = math.ceil(rate * horizon)
    wanted = min(prefetch, horizon_work)  # prefetch bounds what one agent holds (object size)
    # at the tail: a quarter of the horizon each (of this agent's work, not of what prefetch lets it hold:
    # a fast job would otherwise write every few hundred milliseconds at its end)
    fair = max(pending // agents, horizon_work // 4)
    return max(need, min(wanted, fair, pending))


def write_due(buffered: int, oldest_age: float, flush_max: int, flush_seconds: float) -> bool:
    return buffered > 0 and (buffered >= flush_max or oldest_age >= flush_seconds)


class Batcher:
    """One agent's batched view of a ``Coordinator`` (see the module docstring)."""

    def __init__(
        self,
        coord: protocol.Coordinator,
        agent: str,
        before_write: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.coord = coord
        self.agent = agent
        self.settings = coord.batching
        self.before_write = before_write
        self.clock, self.monotonic = clock, monotonic
        self.reports: list[protocol.Report] = []
        self.first_report_at = 0.0  # monotonic time the oldest buffered report was made
        self.flush_after = self._jittered()  # this buffer's age limit
        self.last_write = monotonic()
        self.reservoir: deque[protocol.Lease] = deque()  # claimed, not handed out
        self.held: set[tuple[int, int]] = set()  # (index, attempt) claimed and not reported, reservoir included
        self.finished = 0  # outcomes since the first one (the rate that sizes claims)
        self.first_finish = 0.0
        self.safe_until = -math.inf  # the backend's safe_until, as of the last call that can move it
        self.drained = False  # the last claim found nothing left
        self.claimed = False  # a claim was written (before that a read cannot tell "nothing left")

    # --- claims -------------------------------------------------------------------------

    def claim(self, agent: str, max_n: int) -> list[protocol.Lease]:
        if max_n <= 0:
            return []
        if len(self.reservoir) < max_n and self.claimed and self._nothing_left():
            self.drained = True  # nothing left to claim (a read): no write just to find that out
            if self.reports and not self.held:
                self._last_write()
            elif self.due():
                self.flush()
        elif len(self.reservoir) < max_n:
            self.claimed = True
            request = protocol.ClaimRequest(
                max_n - len(self.reservoir), self.settings.prefetch, self.rate(), self.settings.flush_seconds
            )
            got = self._write(request)
            self.drained = not got
            self.reservoir.extend(got)
            self.held.update((x.index, x.attempt) for x in got)
        elif self.due():
            self.flush()
        return [self.reservoir.popleft() for _ in range(min(max_n, len(self.reservoir)))]

    def _nothing_left(self) -> bool:
        """Nothing pending in the queue (a read), and no buffered failure or
        hand-back that could make some pending once written."""
        return all(r.kind == "complete" for r in self.reports) and self.coord.pending_now() == 0

    def rate(self) -> float:
        """Outcomes per second since the first (start-up and init() aside); 0 until known: after
        0.2 s, or sooner once RATE_SAMPLE outcomes are in (a fast job finishes its first claims
        within 0.2 s, and each claim without a rate takes only half a fair share: a write apiece)."""
        elapsed = self.monotonic() - self.first_finish
        known = self.finished > 1 and elapsed > 0 and (elapsed > 0.2 or self.finished >= RATE_SAMPLE)
        return (self.finished - 1) / elapsed if known else 0.0

    # --- outcomes -----------------------------------------------------------------------

    def complete(self, lease: protocol.Lease, outcome: protocol.Outcome) -> bool:
        return self._record(protocol.Report(lease, "complete", outcome))

    def complete_many(self, results: Sequence[tuple[protocol.Lease, protocol.Outcome]]) -> list[bool]:
        """``complete`` of each, buffered together: one look at the leases'
        safety and at whether a write is due for the lot."""
        out = [self._record(protocol.Report(lease, "complete", outcome), check=False) for lease, outcome in results]
        taken = sum(out)
        if not taken:
            return out
        if self.clock() >= self.safe_until and self.clock() >= self.refresh_safety():
            answers = iter(self.flush()[-taken:])  # only the backend can answer: these are the last written
            return [ok and next(answers) for ok in out]
        self._after_record()
        return out

    def fail(self, lease: protocol.Lease, error: str, retryable: bool = True, items: int | None = None) -> bool:
        return self._record(protocol.Report(lease, "fail", error=error, retryable=retryable, items=items))

    def release(self, lease: protocol.Lease) -> None:
        """Hand back ``lease`` and the reservoir (release means the agent is
        stopping); written at once when nothing else is held."""
        self._record(protocol.Report(lease, "release"), flush=False)
        self._release_reservoir()
        if self.reports and not self.held:
            self.flush()

    def _release_reservoir(self) -> None:
        while self.reservoir:
            self._record(protocol.Report(self.reservoir.popleft(), "release"), flush=False)

    def _record(self, report: protocol.Report, flush: bool = True, check: bool = True) -> bool:
        """Buffer ``report`` if its lease is one handed out and not reported.
        ``check``: then answer it (at once by the backend when the lease may
        have expired) and write if due (``flush``); else the caller does."""
        lease = report.lease
        key = (lease.index, lease.attempt)
        if key not in self.held or lease.owner != self.agent:
            return False
        self.held.discard(key)
        if report.kind != "release":
            self.finished += 1
            if not self.first_finish:
                self.first_finish = self.monotonic()
        if not self.reports:
            self.first_report_at = self.monotonic()
        self.reports.append(report)
        if not check:
            return True
        if self.clock() >= self.safe_until and self.clock() >= self.refresh_safety():
            return self.flush()[-1]  # the lease may have been taken back: only the backend can answer
        if flush:
            self._after_record()
        return True

    def _after_record(self) -> None:
        if self.drained and not self.held:
            self._last_write()
        elif self.due():
            self.flush()

    def _last_write(self) -> None:
        """Nothing held, nothing left: this agent's last write. Agents run dry
        together: a jittered pause spreads their last writes (fewer conflicts)."""
        if self.settings.drain_jitter:
            time.sleep(random.uniform(0.0, self.settings.drain_jitter))
        self.flush()

    def refresh_safety(self) -> float:
        """The backend's ``safe_until`` again (after anything that may have moved it)."""
        self.safe_until = self.coord.safe_until(self.agent)
        return self.safe_until

    def _jittered(self) -> float:
        """The age limit of the next buffer: 75-100% of ``flush_seconds``, drawn
        again after every write, so agents started together do not write
        together (each collision is a conflict and one more write)."""
        return self.settings.flush_seconds * random.uniform(0.75, 1.0)

    def due(self) -> bool:
        s = self.settings
        return write_due(len(self.reports), self.monotonic() - self.first_report_at, s.flush_max, self.flush_after)

    def flush(self) -> list[bool]:
        """Write the buffered reports now; one bool each (False: stale when written)."""
        return self._flush(closing=False)

    def _flush(self, closing: bool) -> list[bool]:
        if not self.reports:
            return []
        reports = self.reports
        accepted, _ = self._commit(reports, None, closing)
        return accepted

    def _write(self, claim: protocol.ClaimRequest) -> list[protocol.Lease]:
        return self._commit(self.reports, claim, False)[1]

    def _commit(
        self, reports: list[protocol.Report], claim: protocol.ClaimRequest | None, closing: bool
    ) -> tuple[list[bool], list[protocol.Lease]]:
        if reports and self.before_write is not None:
            self.before_write()
        accepted, leases = self.coord.commit(self.agent, reports, claim, closing)
        self.reports = []
        self.refresh_safety()
        self.last_write = self.monotonic()
        self.flush_after = self._jittered()
        for report, ok in zip(reports, accepted):
            if not ok and report.kind != "release":
                log.warning(
                    "%s of mini-batch %d (attempt %d) by %s was stale when written",
                    report.kind,
                    report.lease.index,
                    report.lease.attempt,
                    self.agent,
                )
        return accepted, leases

    # --- the rest of the protocol -------------------------------------------------------

    def heartbeat(self, agent: str) -> None:
        """Buffered outcomes go out at least every ``renew_seconds`` (the write
        is the heartbeat); the backend renews what no write renewed."""
        if self.reports and self.monotonic() - self.last_write >= self.settings.renew_seconds:
            self.flush()
        self.coord.heartbeat(agent)
        self.refresh_safety()
        if self.due():
            self.flush()

    def release_expired(self, now: float) -> int:
        moved = self.coord.release_expired(now)
        self.refresh_safety()
        return moved

    def counters(self) -> protocol.Progress:
        self.flush()
        return self.coord.counters()

    def reset_failed(self) -> int:
        self.flush()
        return self.coord.reset_failed()

    def records(self, state: str | None = None) -> list[protocol.BatchRecord]:
        self.flush()
        return self.coord.records(state)

    def finish(self) -> None:
        """Hand back the reservoir (unburnt) and write what is buffered. If the
        backend cannot be reached the reports are logged and dropped: their
        mini-batches run again once this agent's leases expire."""
        self._release_reservoir()
        try:
            self._flush(closing=True)
        except Exception as exc:  # an outage on the way out must not crash the agent's shutdown
            log.warning(
                "could not write %d buffered outcome(s) on close (%s); those mini-batches will run again "
                "after the lease expires: %s",
                len(self.reports),
                exc,
                ", ".join(f"{r.kind} {r.lease.index}" for r in self.reports),
            )
            self.reports = []

    def close(self) -> None:
        self.finish()
        self.coord.close()
