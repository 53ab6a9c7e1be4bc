"""Write-behind outcomes of ``pjob.coord.kube.KubeCoordinator`` (a mixin):
``complete``/``fail``/``release`` are checked against the agent's local view
and buffered; the buffer goes out with the next queue write (a claim), when
it is due (``pjob.queue.batching.write_due``), when the agent has run dry, or
on ``close``. An outcome is answered locally only while the agent's lease is
surely unexpired in everyone's eyes (so nobody can have re-leased it);
otherwise it is written at once and the API's answer returned. The rules
themselves are the queue machine's, applied in ``KubeCoordinator._update``.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Sequence

import urllib3
from kubernetes.client import exceptions as k8s_errors

from pjob.coord import base, kube_leases
from pjob.queue import batching

log = logging.getLogger("pjob.coord.kube")


@dataclasses.dataclass
class Op:
    kind: str  # complete | fail | release
    agent: str
    index: int
    attempt: int
    outcome: base.Outcome | None = None
    error: str = ""
    retryable: bool = True
    items: int | None = None  # fail: what the attempt held (replaces the planned count)


class OutcomeBuffer:
    """Mixin of KubeCoordinator: the outcome half of the protocol."""

    def complete(self, lease: base.Lease, outcome: base.Outcome) -> bool:
        return self.complete_many([(lease, outcome)])[0]

    def complete_many(self, results: Sequence[tuple[base.Lease, base.Outcome]]) -> list[bool]:
        return [
            self._record(Op("complete", lease.owner, lease.index, lease.attempt, outcome=outcome))
            for lease, outcome in results
        ]

    def fail(self, lease: base.Lease, error: str, retryable: bool = True, items: int | None = None) -> bool:
        return self._record(
            Op("fail", lease.owner, lease.index, lease.attempt, error=error, retryable=retryable, items=items)
        )

    def release(self, lease: base.Lease) -> None:
        """Hand back ``lease`` and this agent's reservoir (release means the
        agent is stopping); written at once when it then holds nothing else."""
        view = self._view(lease.owner)
        self._record(Op("release", lease.owner, lease.index, lease.attempt), flush=False)
        for index, attempt in view.reservoir:
            self._record(Op("release", lease.owner, index, attempt), flush=False)
        view.reservoir = []
        if self._ops and not view.held:
            self.flush()

    def _record(self, op: Op, flush: bool = True) -> bool:
        view = self._view(op.agent)
        if view.held.get(op.index) != op.attempt:
            return False
        if not self._lease_safe(op.agent, time.time()):
            # the lease may have been taken back: only the API can answer
            self._ops.append(op)
            self.flush()
            return self._op_results.get(id(op), False)
        del view.held[op.index]
        if op.kind != "release":
            view.finished += 1
            view.first_finish = view.first_finish or time.monotonic()
        if not self._ops:
            self._first_op_at = time.monotonic()
        self._ops.append(op)
        if flush:
            self._flush_if_due(drained=view.drained and not view.held)
        return True

    def _flush_if_due(self, drained: bool = False) -> None:
        """``drained``: the agent holds nothing and the queue had nothing left for it: its last write."""
        if self._ops and drained:
            # agents tend to run dry together: a jittered pause spreads their last writes (fewer 409s)
            time.sleep(random.uniform(0.0, self.drain_jitter))
            self.flush()
        elif batching.write_due(
            len(self._ops), time.monotonic() - self._first_op_at, self.flush_max, self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered outcomes now."""
        if self._ops:
            self._update(lambda state: None)

    def close(self) -> None:
        """Hand back every reserved-but-unstarted mini-batch and flush. If the
        API cannot be reached the buffered outcomes are logged and dropped:
        their mini-batches run again once this agent's Lease expires."""
        for agent, view in self._views.items():
            for index, attempt in view.reservoir:
                self._ops.append(Op("release", agent, index, attempt))
            view.reservoir = []
        # past a third of a lease the outcomes are not worth waiting for: the leases expire anyway
        self.retry_seconds = min(self.retry_seconds, self.lease_seconds / 3)
        try:
            self.flush()
        except (k8s_errors.ApiException, kube_leases.QueueRejected, OSError, urllib3.exceptions.HTTPError) as exc:
            log.warning(
                "queue %s: could not write %d buffered outcome(s) on close (%s); those mini-batches "
                "will run again after the lease expires: %s",
                self.job,
                len(self._ops),
                exc,
                ", ".join(f"{op.kind} {op.index}" for op in self._ops),
            )
            self._ops = []
