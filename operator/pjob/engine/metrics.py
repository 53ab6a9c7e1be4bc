"""Prometheus metrics of running jobs, one collector for ``pjob run
--metrics-port`` and the operator (``pjob operator run --metrics-port``).

The driver or the operator calls ``JobMetrics.observe`` with a step's queue
counters (``coord.base.Progress``) and its work folder whenever it reads
them; a scrape turns the last observation of every step into metric
families (the agents' activity files add worker restarts and the
mini-batch duration histogram). Labels: ``job``, ``step`` (and
``namespace`` on a cluster; empty locally).

- ``pjob_mini_batches_total{state="done|failed"}`` counter: finished mini-batches
- ``pjob_mini_batches_unfinished{state="pending|leased"}`` gauge, ``pjob_mini_batches_planned`` gauge
- ``pjob_items_total{state="succeeded|failed"}`` counter
- ``pjob_attempts_total`` counter, ``pjob_worker_restarts_total`` counter
- ``pjob_mini_batch_duration_seconds`` histogram (attempts finished by the agents)
- ``pjob_workers{state="init|load|run|idle|restarting|stopped"}`` gauge
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.metrics_core import Metric

    from pjob.queue.protocol import Progress

from pjob.engine import activity

LABELS = ("namespace", "job", "step")


class JobMetrics:
    """A prometheus_client collector over the last observation of each step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[tuple[str, str, str], tuple[Progress, str | None]] = {}

    def observe(
        self, job: str, step: str, counters: Progress, work_dir: str | None = None, namespace: str = ""
    ) -> None:
        with self._lock:
            self._steps[(namespace, job, step)] = (counters, work_dir)

    def forget(self, job: str, step: str, namespace: str = "") -> None:
        with self._lock:
            self._steps.pop((namespace, job, step), None)

    def collect(self) -> list[Metric]:
        with self._lock:
            steps = dict(self._steps)
        return families(steps)

    def serve(self, port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
        """Register on a fresh registry and serve /metrics; returns (server, thread)."""
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        registry.register(self)
        return start_http_server(port, addr=addr, registry=registry)


def families(steps: dict[tuple[str, str, str], tuple[Progress, str | None]]) -> list[Metric]:
    """The metric families for ``{(namespace, job, step): (counters, work_dir)}``."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    mbs = CounterMetricFamily("pjob_mini_batches", "Finished mini-batches by final state", labels=LABELS + ("state",))
    current = GaugeMetricFamily(
        "pjob_mini_batches_unfinished", "Mini-batches not finished yet, by state", labels=LABELS + ("state",)
    )
    planned = GaugeMetricFamily("pjob_mini_batches_planned", "Mini-batches in the step's plan", labels=LABELS)
    items = CounterMetricFamily("pjob_items", "Items (files or rows) by outcome", labels=LABELS + ("state",))
    attempts = CounterMetricFamily("pjob_attempts", "Mini-batch attempts started", labels=LABELS)
    restarts = CounterMetricFamily(
        "pjob_worker_restarts", "Worker processes replaced after a crash or timeout", labels=LABELS
    )
    workers = GaugeMetricFamily("pjob_workers", "Worker processes by what they do", labels=LABELS + ("state",))
    durations = HistogramMetricFamily(
        "pjob_mini_batch_duration_seconds", "Duration of finished mini-batch attempts", labels=LABELS
    )
    for key, (p, work_dir) in sorted(steps.items()):
        labels = list(key)
        mbs.add_metric(labels + ["done"], p.done)
        mbs.add_metric(labels + ["failed"], p.failed)
        current.add_metric(labels + ["pending"], p.pending)
        current.add_metric(labels + ["leased"], p.leased)
        planned.add_metric(labels, p.total)
        items.add_metric(labels + ["succeeded"], p.items_succeeded)
        items.add_metric(labels + ["failed"], p.items_failed)
        attempts.add_metric(labels, p.attempts)
        docs = activity.read_all(work_dir) if work_dir else []
        restarts.add_metric(labels, sum(int(d.get("restarts") or 0) for d in docs))
        by_state: dict[str, int] = {}
        for d in docs:
            for w in d.get("workers") or []:
                by_state[w.get("state", "?")] = by_state.get(w.get("state", "?"), 0) + 1
        for state, n in sorted(by_state.items()):
            workers.add_metric(labels + [state], n)
        buckets, total, _ = activity.merged_durations(docs)
        durations.add_metric(labels, buckets=list(buckets), sum_value=total)
    return [mbs, current, planned, items, attempts, restarts, workers, durations]
