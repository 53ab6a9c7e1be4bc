"""Backends of the shared Coordinator contract suite
(tests/unit/test_coordinator_contract.py). Each ``Backend`` creates a fresh
queue, opens it again (``open``) and gives a picklable ``opener`` that a forked
child calls to get its own coordinator. Add a backend here and to ``BACKENDS``
and the whole suite runs over it.
"""

from __future__ import annotations

import functools

from pjob.coord import sqlite


class SqliteBackend:
    """A fresh ``queue.db`` in the test's tmp_path."""

    stress_total = 400

    def __init__(self, tmp_path, request):
        self.tmp_path = tmp_path
        self.path = tmp_path / "queue.db"
        self.kwargs: dict = {}
        self.made: list = []

    def create(self, total, max_attempts=3, items=None, lease_seconds=30.0):
        self.kwargs = dict(max_attempts=max_attempts, lease_seconds=lease_seconds)
        return self._track(sqlite.SqliteCoordinator(self.path, total, items=items, **self.kwargs))

    def opener(self):
        return functools.partial(sqlite.SqliteCoordinator, self.path, None, **self.kwargs)

    def open(self):
        return self._track(self.opener()())

    def _track(self, c):
        self.made.append(c)
        return c

    def close(self):
        for c in self.made:
            c.close()


def _open_kube(kubeconfig, namespace, job, kwargs):
    """Runs in forked children: a fresh ApiClient per process."""
    from kubernetes import config
    from pjob.coord import kube

    return kube.KubeCoordinator(config.new_client_from_config(config_file=kubeconfig), namespace, job, **kwargs)


class KubeBackend:
    """The real API server of the test session (tests/cluster); the queue is ConfigMap
    ``job-queue`` + agent Leases in the test's namespace, emptied after each test.
    ``prefetch=0`` claims exactly what is asked (the protocol's strict lowest-first order)."""

    stress_total = 150
    prefetch = 0
    job = "job"

    def __init__(self, tmp_path, request):
        self.tmp_path = tmp_path
        self.server = request.getfixturevalue("kube_api")
        self.namespace = self.server.namespace
        self.kwargs: dict = {}
        self.made: list = []  # ApiClients to close

    def create(self, total, max_attempts=3, items=None, lease_seconds=30.0):
        self.kwargs = dict(
            max_attempts=max_attempts,
            lease_seconds=lease_seconds,
            prefetch=self.prefetch,
            read_cache_seconds=0.0,
            renew_seconds=0.0,
        )
        return self._new(dict(self.kwargs, total=total, items=items))

    def _new(self, kwargs):
        from pjob.coord import kube

        api = self.server.client()
        self.made.append(api)
        return kube.KubeCoordinator(api, self.namespace, self.job, **kwargs)

    def opener(self):
        return functools.partial(_open_kube, str(self.server.kubeconfig_path), self.namespace, self.job, self.kwargs)

    def open(self):
        return self._new(self.kwargs)

    def close(self):
        for api in self.made:
            api.close()


class KubePrefetchBackend(KubeBackend):
    """The production setting: agents go through the batching layer
    (``pjob.queue.batching.Batcher``: claims reserve ``prefetch`` mini-batches
    ahead, outcomes are written behind), so only order-independent tests apply."""

    prefetch = 8

    def _new(self, kwargs):
        return Batched(super()._new(kwargs))

    def opener(self):
        return functools.partial(_batched, super().opener())


def _batched(opener):
    return Batched(opener())


class Batched:
    """A coordinator as its agents see it: one ``Batcher`` per agent name;
    what is not an agent's (counters, expiry, records) reads the queue after
    every agent's buffer was written."""

    def __init__(self, coord):
        self.coord = coord
        self.batchers = {}

    def __getattr__(self, name):  # lease_seconds and the like
        return getattr(self.coord, name)

    def _for(self, agent):
        from pjob.queue import batching

        if agent not in self.batchers:
            self.batchers[agent] = batching.Batcher(self.coord, agent)
        return self.batchers[agent]

    def _flushed(self):
        for b in self.batchers.values():
            b.flush()
        return self.coord

    def claim(self, agent, max_n):
        return self._for(agent).claim(agent, max_n)

    def complete(self, lease, outcome):
        return self._for(lease.owner).complete(lease, outcome)

    def complete_many(self, results):
        return [self.complete(lease, outcome) for lease, outcome in results]

    def fail(self, lease, error, retryable=True, items=None):
        return self._for(lease.owner).fail(lease, error, retryable, items)

    def release(self, lease):
        self._for(lease.owner).release(lease)

    def heartbeat(self, agent):
        self._for(agent).heartbeat(agent)

    def release_expired(self, now):
        moved = self._flushed().release_expired(now)
        for b in self.batchers.values():
            b.refresh_safety()
        return moved

    def counters(self):
        return self._flushed().counters()

    def reset_failed(self):
        return self._flushed().reset_failed()

    def records(self, state=None):
        return self._flushed().records(state)

    def close(self):
        for b in self.batchers.values():
            b.finish()
        self.coord.close()


BACKENDS = {"sqlite": SqliteBackend, "kube": KubeBackend, "kube-prefetch": KubePrefetchBackend}
STRICT_ORDER_ONLY = {"kube-prefetch"}
