"""Agent heartbeats of the Kubernetes coordinator: one
``coordination.k8s.io/v1`` Lease per agent (``<job>-agent-<agent>``, labelled
``pjob.dev/queue=<job>``, owned by the queue ConfigMap so it is
garbage-collected with the job), renewed by the agent; ``alive_until`` tells
``pjob.coord.kube.KubeCoordinator.release_expired`` until when each agent is
alive. Also the small API helpers both modules share (transient-error retry,
MicroTime formatting).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
import time
from collections.abc import Iterable
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_errors

from pjob.coord import kube_retry

QUEUE_LABEL = "pjob.dev/queue"


def lease_name(job: str, agent: str) -> str:
    """A valid object name for any agent id (pod names, ``host:pid``, ...)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", agent.lower()).strip("-")[:40] or "agent"
    digest = hashlib.sha1(agent.encode()).hexdigest()[:8]
    return f"{job}-agent-{slug}-{digest}"


class AgentLeases:
    """Creates/renews the Leases of the agents of one job."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str, job: str, lease_seconds: float):
        self.api = k8s.CoordinationV1Api(api_client)
        self.namespace, self.job = namespace, job
        self.duration = max(1, math.ceil(lease_seconds))
        self._exists: set[str] = set()
        self.queue_uid: str | None = None  # the queue ConfigMap's uid: new Leases are owned by it
        self.observed = LeaseObserver()

    def renew(self, agent: str) -> float:
        """Write ``agent``'s Lease (create it if needed); returns the renew time."""
        now = time.time()
        stamp = micro_time(now)
        name = lease_name(self.job, agent)
        spec = {"holderIdentity": agent, "leaseDurationSeconds": self.duration, "renewTime": stamp}

        def patch() -> None:
            retrying(
                lambda: self.api.patch_namespaced_lease(
                    name, self.namespace, {"spec": spec}, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
                )
            )

        if agent in self._exists:
            try:
                patch()
                return now
            except k8s_errors.ApiException as exc:
                if exc.status != 404:
                    raise
                self._exists.discard(agent)
        meta: dict[str, Any] = {"name": name, "labels": {QUEUE_LABEL: self.job}}
        if self.queue_uid:
            meta["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": f"{self.job}-queue", "uid": self.queue_uid}
            ]
        body: Any = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {**spec, "acquireTime": stamp},
        }
        try:
            retrying(
                lambda: self.api.create_namespaced_lease(
                    self.namespace, body, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
                )
            )
        except k8s_errors.ApiException as exc:
            if exc.status != 409:
                raise
            patch()  # a previous incarnation of this agent left it behind
        self._exists.add(agent)
        return now

    def alive_until(self, now: float | None = None, beats: dict[str, int] | None = None) -> dict[str, float]:
        """holderIdentity -> until when its holder counts as alive, on THIS
        process's clock: a Lease is alive for ``leaseDurationSeconds`` after
        this observer first saw its current ``renewTime`` (as client-go's
        leader election judges), never by comparing another node's clock.
        ``beats`` (the queue's write counter per agent) renew it too."""
        resp = retrying(
            lambda: self.api.list_namespaced_lease(
                self.namespace,
                label_selector=f"{QUEUE_LABEL}={self.job}",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
        seen_at = time.time() if now is None else now
        beats = dict(beats or {})
        records: list[tuple[str, str | None, float]] = []
        for item in json.loads(resp.data).get("items", []):
            spec = item.get("spec") or {}
            holder = str(spec.get("holderIdentity"))
            stamp = spec.get("renewTime") or spec.get("acquireTime")
            records.append(
                (
                    holder,
                    None if stamp is None else f"{stamp} {beats.pop(str(holder), 0)}",
                    float(spec.get("leaseDurationSeconds") or 0),
                )
            )
        records += [(holder, f"- {n}", float(self.duration)) for holder, n in beats.items()]
        return self.observed.observe(records, seen_at)


class LeaseObserver:
    """Pure: remembers when this process first saw each holder's current renew
    stamp. ``observe([(holder, stamp, duration)], now)`` -> holder -> alive until."""

    def __init__(self) -> None:
        self._first_seen: dict[str, tuple[str | None, float]] = {}

    def observe(self, records: Iterable[tuple[str, str | None, float]], now: float) -> dict[str, float]:
        until: dict[str, float] = {}
        for holder, stamp, duration in records:
            if stamp is None:
                continue  # never renewed: not alive
            known = self._first_seen.get(holder)
            if known is None or known[0] != stamp:
                known = self._first_seen[holder] = (stamp, now)
            until[holder] = known[1] + duration
        return until


TRANSIENT_4XX = (408, 409, 429)  # timeout, conflict, too many requests: try again; any other 4xx is final


def final_error(exc: k8s_errors.ApiException) -> bool:
    """A 4xx that retrying cannot cure (422, 403, 400, 413, ...)."""
    return 400 <= int(exc.status or 0) < 500 and exc.status not in TRANSIENT_4XX


class QueueRejected(RuntimeError):
    """The API server refused a read or write of a job's queue ConfigMap for
    good (``final_error``: 422 RequestEntityTooLarge past 1 MiB, 403, ...).
    Retrying cannot help: the job must fail with this message, never
    crash-loop its agents (``pjob.kube.agent_cmd`` exits 3 with it)."""

    def __init__(self, namespace: str, name: str, job: str, what: str, exc: k8s_errors.ApiException):
        self.status = exc.status
        try:
            detail = json.loads(exc.body or "{}")
        except (TypeError, ValueError):
            detail = {}
        detail = detail if isinstance(detail, dict) else {}
        self.reason = detail.get("reason") or exc.reason or ""
        message = detail.get("message") or str(exc.body or "")[:500]
        too_large = exc.status in (413, 422) and (
            "Too long" in message or "too large" in message.lower() or "TooLarge" in self.reason
        )
        hint = (
            " The queue state outgrew the API server's 1 MiB object limit (many failed mini-batches between "
            "done ones): fix what fails the mini-batches, or use a larger mini_batch_size so there are fewer."
            if too_large
            else ""
        )
        super().__init__(
            f"the API server refused to {what} ConfigMap {namespace}/{name}, the queue of job {job} "
            f"(HTTP {exc.status} {self.reason}: {message}).{hint}"
        )


def micro_time(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float:
    if not text:
        return -math.inf
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


retrying = kube_retry.retrying  # every API call of the coordinator goes through it
REQUEST_TIMEOUT = kube_retry.REQUEST_TIMEOUT
