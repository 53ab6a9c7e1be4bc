"""KubeCoordinator: the queue of one ParallelJob kept in the Kubernetes API, for
``pjob agent --coordinator kube://<namespace>/<job>`` running in worker pods
(and the operator, which reads counters). Built from a
``kubernetes.client.ApiClient`` it is given; no module-level clients.

Objects (all in the job's namespace, labelled ``pjob.dev/queue=<job>``),
none growing with the input or the failures (limits in docs/architecture.md):

- ConfigMap ``<job>-queue``: cursor, in-flight leases, counters and a
  bounded journal of per-mini-batch facts (``pjob.coord.kube_state``); every
  rule is ``pjob.queue.machine``'s; every change is read-modify-write with
  ``metadata.resourceVersion`` (409 -> re-read and re-apply);
- shard ConfigMaps ``<job>-queue-<k>``: the journal folded into fixed-size
  bitmaps (``pjob.coord.kube_shards``, ``pjob.coord.kube_shard_store``);
- one ``coordination.k8s.io/v1`` Lease per agent ``<job>-agent-<agent>``:
  the heartbeat. ``release_expired`` sends the mini-batches of agents whose
  Lease expired (or never existed) back to pending, attempt burnt.

API cost is kept low (target <= 0.01 writes per mini-batch) by:

- batching in ``pjob.queue.batching.Batcher`` (the agent's side, the one
  batching layer): one ``commit`` write carries an agent's buffered outcomes
  and its next claim, sized by ``pjob.queue.batching.claim_ahead`` with this
  queue's pending count and agents (``batching``: ``prefetch`` ahead, a share of
  ``kube_encoding.IN_FLIGHT`` per agent, outcomes
  held up to a third of a lease);
- heartbeats carried by queue writes: a write bumps ``beats`` of this
  process's agents that hold work; an agent's Lease is created before its
  first claim and renewed only when no queue write did it for
  ``renew_seconds``; ``safe_until`` says how long outcomes may wait in the
  Batcher (until the Lease could look expired to someone else).

A crash loses at most the Batcher's unwritten outcomes: those mini-batches run
again after the lease expires; ``done`` is still recorded once.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_errors

from pjob.coord import (
    base,
    kube_agents,
    kube_encoding,
    kube_leases,
    kube_objects,
    kube_retry,
    kube_shard_store,
    kube_shards,
    kube_state,
)
from pjob.queue import batching, protocol
from pjob.spec import errors

log = logging.getLogger(__name__)

QUEUE_LABEL = kube_leases.QUEUE_LABEL
MAX_CONFLICT_RETRIES = 100
QueueRejected = kube_leases.QueueRejected
_final = kube_leases.final_error


parse_uri, queue_name, queue_configmap = kube_objects.parse_uri, kube_objects.queue_name, kube_objects.queue_configmap


class KubeCoordinator(kube_agents.AgentViews):
    """See the module docstring."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        namespace: str,
        job: str,
        total: int | None = None,
        max_attempts: int = 3,
        lease_seconds: float = 30.0,
        items: Sequence[int] | None = None,
        prefetch: int | None = None,
        flush_seconds: float | None = None,
        flush_max: int = 4096,
        read_cache_seconds: float = 0.25,
        expiry_check_seconds: float | None = None,
        renew_seconds: float | None = None,
        owner_references: list[dict[str, Any]] | None = None,
        instances: int = 1,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.core = k8s.CoreV1Api(api_client)
        self.leases = kube_leases.AgentLeases(api_client, namespace, job, lease_seconds)
        self.namespace, self.job = namespace, job
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.items = items
        self.prefetch = kube_encoding.prefetch_for(instances) if prefetch is None else prefetch
        self.instances = instances  # agents the job runs (claims leave the others their share)
        self.drain_jitter = min(1.0, lease_seconds / 30)
        self.retry_seconds = kube_retry.BUDGET_SECONDS  # how long a transient API outage is waited out
        # outcomes wait up to a third of a lease: one write then carries them, the next claim and a heartbeat
        self.flush_seconds = lease_seconds / 3 if flush_seconds is None else flush_seconds
        self.flush_max = flush_max
        self.read_cache_seconds = read_cache_seconds
        self.expiry_check_seconds = lease_seconds / 3 if expiry_check_seconds is None else expiry_check_seconds
        # heartbeats closer together than this do not write the Lease again (API cost per hour of run)
        self.renew_seconds = lease_seconds / 3 if renew_seconds is None else renew_seconds
        self._views: dict[str, kube_agents.AgentView] = {}
        self._cache: tuple[float, kube_state.QueueState] | None = None
        self._last_expiry_check = 0.0
        self.shards = kube_shard_store.ShardStore(
            self.core, namespace, job, queue_name(job), lambda: self.leases.queue_uid, self._retrying
        )
        self._ensure_queue(total, owner_references)

    @property
    def batching(self) -> protocol.Batching:
        """Every write is an API call: claims reserve ahead, outcomes wait up to a third of a lease."""
        return protocol.Batching(
            prefetch=self.prefetch,
            flush_seconds=self.flush_seconds,
            flush_max=self.flush_max,
            drain_jitter=self.drain_jitter,
            renew_seconds=self.renew_seconds,
        )

    # --- the queue ConfigMap -----------------------------------------------------------

    def _ensure_queue(self, total: int | None, owner_references: list[dict[str, Any]] | None) -> None:
        body: Any = queue_configmap(self.namespace, self.job, total, self.max_attempts, owner_references)
        try:
            self._read()
        except k8s_errors.ApiException as exc:
            if exc.status != 404:
                raise
            try:
                resp = self._retrying(
                    lambda: self.core.create_namespaced_config_map(
                        self.namespace, body, _preload_content=False, _request_timeout=kube_leases.REQUEST_TIMEOUT
                    )
                )
                self.leases.queue_uid = json.loads(resp.data)["metadata"].get("uid")
                return
            except k8s_errors.ApiException as exc:
                if exc.status != 409:  # another agent created it meanwhile
                    raise

        def adopt(state: kube_state.QueueState) -> None:
            if total is not None and state.total is not None and state.total != total:
                raise errors.UserError(
                    f"the queue of job {self.job} has {state.total} mini-batches but the plan now has {total}: "
                    "the input or mini_batch_size changed; delete the job and submit it again",
                    field="queue",
                )
            if total is not None:
                state.total = total
            state.max_attempts = self.max_attempts

        self._update(adopt)

    def load_plan(self, total: int, items: Sequence[int] | None = None) -> None:
        """Publish the plan size (agent 0, after planning) on a queue created without one."""
        self.items = items if items is not None else self.items

        def publish(state: kube_state.QueueState) -> None:
            if state.total is not None and state.total != total:
                raise errors.UserError(
                    f"the queue of job {self.job} already has {state.total} mini-batches, not {total}", field="queue"
                )
            state.total = total

        self._update(publish)

    def _retrying(self, call: Callable[[], Any]) -> Any:
        return kube_retry.retrying(call, self.retry_seconds)

    def _read(self) -> dict[str, Any]:
        try:
            resp = self._retrying(
                lambda: self.core.read_namespaced_config_map(
                    queue_name(self.job),
                    self.namespace,
                    _preload_content=False,
                    _request_timeout=kube_leases.REQUEST_TIMEOUT,
                )
            )
        except k8s_errors.ApiException as exc:
            if exc.status != 404 and _final(exc):  # 404: _ensure_queue creates it
                raise QueueRejected(self.namespace, queue_name(self.job), self.job, "read", exc) from exc
            raise
        cm: dict[str, Any] = json.loads(resp.data)
        self.leases.queue_uid = cm["metadata"].get("uid")  # Leases are owned by the queue (GC on delete)
        return cm

    def _update(self, mutate: Callable[[kube_state.QueueState], Any]) -> Any:
        """Read the ConfigMap, fold its journal into the shards when due,
        apply ``mutate``, write it back if anything changed; on 409 start
        again from a fresh read."""
        for conflicts in range(MAX_CONFLICT_RETRIES):
            cm = self._read()
            state = self._decode(cm.get("data"))
            before = state.encode()
            if state.fold_due():
                self.shards.fold(state)
            result = mutate(state)
            state.close_write()
            after = state.encode()
            beating = []
            if after != before:  # a write anyway: it is also the heartbeat of this process's agents holding work
                beating = [a for a in self._views if a in state.leased]
                state.beat(beating)
                after = state.encode()
                written_at = time.time()
                kept = {k: v for k, v in (cm.get("data") or {}).items() if k not in kube_state.OLDER_KEYS}
                cm["data"] = {**kept, **after}
                body: Any = cm
                try:
                    self._retrying(
                        functools.partial(
                            self.core.replace_namespaced_config_map,
                            queue_name(self.job),
                            self.namespace,
                            body,
                            _preload_content=False,
                            _request_timeout=kube_leases.REQUEST_TIMEOUT,
                        )
                    )
                except k8s_errors.ApiException as exc:
                    if exc.status == 409:  # another agent wrote first: back off (full jitter, doubling) and redo
                        time.sleep(random.uniform(0.0, min(2.0, 0.2 * 2**conflicts)))
                        continue
                    if _final(exc):  # e.g. 422 past 1 MiB: every retry would fail the same way
                        raise QueueRejected(self.namespace, queue_name(self.job), self.job, "update", exc) from exc
                    raise
            for agent in beating:
                self._views[agent].renewed_at = max(self._views[agent].renewed_at, written_at)
            self._cache = (time.monotonic(), state)
            self._sync_views(state)
            return result
        raise RuntimeError(f"queue ConfigMap of {self.job}: gave up after {MAX_CONFLICT_RETRIES} write conflicts")

    def _apply(self, state: kube_state.QueueState, report: protocol.Report, now: float) -> bool:
        lease = report.lease
        if report.kind == "complete":
            assert report.outcome is not None
            return state.complete(lease.owner, lease.index, lease.attempt, report.outcome, now)
        if report.kind == "fail":
            items = self._items_of(lease.index) if report.items is None else max(report.items, 0)
            return state.fail(lease.owner, lease.index, lease.attempt, report.error, report.retryable, items, now)
        return state.release(lease.owner, lease.index, lease.attempt)

    def _apply_all(self, reports: Sequence[protocol.Report], now: float, state: kube_state.QueueState) -> list[bool]:
        return [self._apply(state, r, now) for r in reports]

    def _decode(self, data: dict[str, str] | None) -> kube_state.QueueState:
        state = kube_state.QueueState.decode(data)
        state.load_shard = self.shards.reader(state.folded_to)
        return state

    def _state(self) -> kube_state.QueueState:
        if self._cache is not None and time.monotonic() - self._cache[0] < self.read_cache_seconds:
            return kube_state.QueueState.decode(self._cache[1].encode())
        state = kube_state.QueueState.decode(self._read().get("data"))
        self._cache = (time.monotonic(), state)
        return kube_state.QueueState.decode(state.encode())

    def _items_of(self, index: int) -> int:
        return max(self.items[index], 0) if self.items is not None and 0 <= index < len(self.items) else 0

    def expire_if_due(self, now: float) -> None:
        """``release_expired`` at most every ``expiry_check_seconds`` (claims and reads of pending call it)."""
        if now - self._last_expiry_check >= self.expiry_check_seconds:
            self.release_expired(now)

    def release_expired(self, now: float) -> int:
        self._last_expiry_check = time.time()

        def expire(state: kube_state.QueueState) -> int:
            if not state.leased:
                return 0
            # Leases are read after the ConfigMap: an agent holding mini-batches in this state
            # created its Lease before it claimed, so a Lease missing here really is missing
            # (reading them first raced with a new agent's first claim and expired it).
            alive_until = self.leases.alive_until(beats=state.beats)
            gone = [a for a in state.leased if alive_until.get(a, -math.inf) < now]
            return sum(state.expire_agent(a, self._items_of, now) for a in gone)

        return int(self._update(expire))  # writes only when someone expired (or outcomes were buffered)

    # --- the Coordinator protocol ----------------------------------------------------------

    def commit(
        self,
        agent: str,
        reports: Sequence[protocol.Report],
        claim: protocol.ClaimRequest | None = None,
        closing: bool = False,
    ) -> tuple[list[bool], list[base.Lease]]:
        """``reports`` then ``claim``, one read-modify-write of the queue (none
        when nothing changes). ``closing``: an outage is waited out for at most
        a third of a lease (the leases expire anyway)."""
        now = time.time()
        claiming = claim is not None and claim.need > 0
        if claiming:
            self.expire_if_due(now)
        view = self._view(agent)
        if claiming and not view.renewed_at:
            self._renew(agent)  # an agent holding work has a Lease (later renewed by its queue writes)

        def write(state: kube_state.QueueState) -> tuple[list[bool], list[tuple[int, int]]]:
            accepted = [self._apply(state, report, now) for report in reports]
            got: list[tuple[int, int]] = []
            if claiming and claim is not None:
                if view.fresh:  # leases under this name not handed out by us: a dead incarnation's
                    state.expire_agent(agent, self._items_of, now)  # (a restarted pod keeps its name)
                agents = max(self.instances, len(set(state.leased) | {agent}))
                n = batching.claim_ahead(
                    claim.need, claim.prefetch, state.progress().pending, agents, claim.rate, claim.horizon
                )
                got = state.claim(agent, n)
            return accepted, got

        if closing:
            self.retry_seconds = min(self.retry_seconds, self.lease_seconds / 3)
        accepted: list[bool] = []
        while len(reports) > kube_shards.MAX_CHANGES:  # bounds what one write adds to the journal
            head, reports = reports[: kube_shards.MAX_CHANGES], reports[kube_shards.MAX_CHANGES :]
            accepted += self._update(functools.partial(self._apply_all, head, now))
        more, got = self._update(write)
        accepted += more
        if claiming:
            view.fresh = False
        if view.holding and time.time() - view.renewed_at >= self.renew_seconds:
            self._renew(agent)  # no queue write carried the heartbeat
        deadline = view.renewed_at + self.lease_seconds
        return accepted, [base.Lease(index=i, attempt=a, owner=agent, deadline=deadline) for i, a in got]

    # --- the Coordinator protocol, unbatched (every call is a write; agents go through a Batcher) ---

    def claim(self, agent: str, max_n: int) -> list[base.Lease]:
        return self.commit(agent, [], protocol.ClaimRequest(max_n))[1] if max_n > 0 else []

    def complete(self, lease: base.Lease, outcome: base.Outcome) -> bool:
        return self.complete_many([(lease, outcome)])[0]

    def complete_many(self, results: Sequence[tuple[base.Lease, base.Outcome]]) -> list[bool]:
        return self._report([protocol.Report(lease, "complete", outcome) for lease, outcome in results])

    def fail(self, lease: base.Lease, error: str, retryable: bool = True, items: int | None = None) -> bool:
        return self._report([protocol.Report(lease, "fail", error=error, retryable=retryable, items=items)])[0]

    def release(self, lease: base.Lease) -> None:
        self._report([protocol.Report(lease, "release")])

    def _report(self, reports: list[protocol.Report]) -> list[bool]:
        if not reports:
            return []
        return self.commit(reports[0].lease.owner, reports)[0]

    def close(self) -> None:
        """Nothing is buffered here (the Batcher hands back and writes on its ``finish``)."""

    def pending_now(self) -> int:
        """Pending as read now; every ``expiry_check_seconds`` the leases of dead agents go back
        first (an agent with nothing left to claim only reads: without this the mini-batches of
        an agent killed mid-job, whose pod came back under another name, stayed leased forever)."""
        now = time.time()
        self.expire_if_due(now)
        state = kube_state.QueueState.decode(self._read().get("data"))
        self._cache = (time.monotonic(), state)
        return state.progress().pending

    def counters(self) -> base.Progress:
        return self._state().progress()

    def plan_size(self) -> int | None:
        """The number of mini-batches, or None while agent 0 has not planned yet."""
        return self._state().total

    def reset_failed(self) -> int:
        """In writes of at most ``kube_shards.MAX_CHANGES`` mini-batches."""
        total = 0
        while True:
            n: int = self._update(lambda state: state.reset_failed(limit=kube_shards.MAX_CHANGES))
            total += n
            if n < kube_shards.MAX_CHANGES:
                return total

    def records(self, state: str | None = None) -> list[base.BatchRecord]:
        return self._decode(self._read().get("data")).records(state)

    def __repr__(self) -> str:
        return f"KubeCoordinator(kube://{self.namespace}/{self.job})"
