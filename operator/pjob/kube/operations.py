"""The operator's side effects beyond plain API calls, handed to the handlers
through kopf's memo: reading a job's queue (its counters, once node 0 has
published the plan) and finalising it on the datastore with the job's
``KubeCoordinator`` (for the failed mini-batches' records).
"""

from __future__ import annotations

from pjob.coord import kube as coord_kube
from pjob.coord import kube_state
from pjob.kube import finalise as finalising
from pjob.kube import kubeio, reconcile


class QueueReader:
    """What the operator needs from a job's queue; one GET per ``counters``."""

    def __init__(self, api: kubeio.KubeApi, namespace: str, job: str, task, lease_seconds: float):
        self.api, self.namespace, self.job, self.task = api, namespace, job, task
        self.lease_seconds = lease_seconds

    def counters(self):
        cm = self.api.get("ConfigMap", self.namespace, coord_kube.queue_name(self.job))
        if cm is None:
            return None
        state = kube_state.QueueState.decode(cm.get("data"))
        return None if state.total is None else state.progress()  # None: node 0 has not planned yet

    def coordinator(self) -> coord_kube.KubeCoordinator:
        return coord_kube.KubeCoordinator(
            self.api.client,
            self.namespace,
            self.job,
            max_attempts=1 + max(0, self.task.max_retries),
            lease_seconds=self.lease_seconds,
        )


def memo_entries(config, api: kubeio.KubeApi) -> dict:
    def open_queue(namespace: str, name: str, task) -> QueueReader:
        return QueueReader(api, namespace, name, task, config.lease_seconds)

    def finaliser(task, queue: QueueReader | None, verdict, body):
        started = reconcile.parse_rfc3339((body.get("status") or {}).get("startTime"))
        if queue is None or queue.counters() is None:  # never planned: nothing to merge, say why
            return finalising.finalise_unplanned(task, verdict, started=started)
        coordinator = queue.coordinator()
        try:
            return finalising.finalise(task, coordinator, verdict, started=started)
        finally:
            coordinator.close()

    return {"open_coordinator": open_queue, "finaliser": finaliser}
