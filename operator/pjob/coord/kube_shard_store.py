"""The shard ConfigMaps of a Kubernetes queue (``<job>-queue-<k>``, the
per-mini-batch facts of ``pjob.coord.kube_shards``) as ``pjob.coord.kube``
reads and folds them: every read and write goes through the coordinator's
transient-error retries; a write is read-modify-write under the shard's
``resourceVersion`` (409: read again and apply again, which is idempotent).
Shards are labelled like the queue and owned by the queue ConfigMap, so
they go with it.

A shard read is cached with the queue's ``foldedTo`` it was read under: it
stays good until a fold trims the journal (the journal holds every change
made since).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_errors

from pjob.coord import kube_leases, kube_shards, kube_state

MAX_CONFLICT_RETRIES = 100


class ShardStore:
    def __init__(
        self,
        core: k8s.CoreV1Api,
        namespace: str,
        job: str,
        queue: str,
        owner_uid: Callable[[], str | None],
        retrying: Callable[[Callable[[], Any]], Any],
    ):
        self.core, self.namespace, self.job, self.queue = core, namespace, job, queue
        self.owner_uid = owner_uid
        self.retrying = retrying
        self._cache: dict[int, tuple[int, dict[str, str]]] = {}  # k -> (foldedTo when read, data)
        self.reads = self.writes = 0

    def reader(self, folded_to: int) -> kube_state.ShardLoader:
        """Shard k as good under a queue state with ``foldedTo == folded_to``."""

        def read(k: int) -> kube_shards.Shard:
            cached = self._cache.get(k)
            if cached is None or cached[0] != folded_to:
                data, _ = self._read(k)
                cached = self._cache[k] = (folded_to, data)
            return kube_shards.Shard.decode(cached[1])

        return read

    def fold(self, state: kube_state.QueueState) -> None:
        """``QueueState.fold`` against the API: each touched shard read,
        given what it lacks and written (again on 409)."""
        upto = state.seq
        for k, entries in state.journal.fold_plan(state.shard_size, upto).items():
            for conflicts in range(MAX_CONFLICT_RETRIES):
                data, cm = self._read(k)
                shard = kube_shards.Shard.decode(data)
                if not shard.apply(entries, upto) or self._write(k, cm, shard.encode()):
                    break
                time.sleep(random.uniform(0.0, min(2.0, 0.2 * 2**conflicts)))  # 409: another folder wrote
            else:
                raise RuntimeError(f"shard {k} of the queue of {self.job}: gave up after write conflicts")
            state.shards[k] = shard
            self._cache[k] = (upto, shard.encode())
        state.journal.trim(upto)
        state.folded_to = upto

    def _read(self, k: int) -> tuple[dict[str, str], dict[str, Any] | None]:
        name = kube_shards.shard_name(self.queue, k)
        self.reads += 1
        try:
            resp = self.retrying(
                lambda: self.core.read_namespaced_config_map(
                    name, self.namespace, _preload_content=False, _request_timeout=kube_leases.REQUEST_TIMEOUT
                )
            )
        except k8s_errors.ApiException as exc:
            if exc.status == 404:
                return {}, None
            raise
        cm = json.loads(resp.data)
        return cm.get("data") or {}, cm

    def _write(self, k: int, cm: dict[str, Any] | None, data: dict[str, str]) -> bool:
        """False on a conflict (someone else wrote or created it first)."""
        self.writes += 1
        try:
            if cm is None:
                meta: dict[str, Any] = {
                    "name": kube_shards.shard_name(self.queue, k),
                    "namespace": self.namespace,
                    "labels": {kube_leases.QUEUE_LABEL: self.job},
                }
                uid = self.owner_uid()
                if uid:
                    meta["ownerReferences"] = [
                        {"apiVersion": "v1", "kind": "ConfigMap", "name": self.queue, "uid": uid}
                    ]
                body: Any = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
                self.retrying(
                    lambda: self.core.create_namespaced_config_map(
                        self.namespace, body, _preload_content=False, _request_timeout=kube_leases.REQUEST_TIMEOUT
                    )
                )
            else:
                cm["data"] = data
                body = cm
                self.retrying(
                    lambda: self.core.replace_namespaced_config_map(
                        cm["metadata"]["name"],
                        self.namespace,
                        body,
                        _preload_content=False,
                        _request_timeout=kube_leases.REQUEST_TIMEOUT,
                    )
                )
        except k8s_errors.ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True
