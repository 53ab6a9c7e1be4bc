"""The operator's side effects beyond plain reconcile writes, handed to the
handlers through kopf's memo: reading a job's queue (its counters, once node 0
has published the plan) and driving its finaliser Job
(``pjob.kube.finaliser_job``). Everything here is an API call: the operator
never reads or writes the datastore.
"""

from __future__ import annotations

import time
from typing import Any

from pjob.coord import kube as coord_kube
from pjob.coord import kube_state
from pjob.engine import policy
from pjob.kube import constants as c
from pjob.kube import finaliser_job, kubeio, reconcile, startup
from pjob.queue.protocol import Progress

Outcome = tuple[policy.Verdict, Progress | None]


class QueueReader:
    """What the operator needs from a job's queue; one GET per ``counters``."""

    def __init__(self, api: kubeio.KubeApi, namespace: str, job: str, task: Any, lease_seconds: float):
        self.api, self.namespace, self.job, self.task = api, namespace, job, task
        self.lease_seconds = lease_seconds

    def counters(self) -> Progress | None:
        cm = self.api.get("ConfigMap", self.namespace, coord_kube.queue_name(self.job))
        if cm is None:
            return None
        state = kube_state.QueueState.decode(cm.get("data"))
        return None if state.total is None else state.progress()  # None: node 0 has not planned yet


def _ended(job: dict[str, Any]) -> dict[str, Any] | None:
    for item in (job.get("status") or {}).get("conditions") or []:
        if item.get("type") in ("Failed", "Complete") and item.get("status") == c.TRUE:
            return dict(item)
    return None


class Finaliser:
    """One step per reconcile tick: make sure the finaliser Job exists (the
    verdict in its args), then return the finaliser's outcome once it wrote
    its ConfigMap (None while it runs). The verdict first given is the one finalised."""

    def __init__(self, api: kubeio.KubeApi, config: Any):
        self.api, self.config = api, config

    def __call__(
        self, task: Any, queue: QueueReader | None, verdict: policy.Verdict, body: dict[str, Any]
    ) -> Outcome | None:
        meta = body["metadata"]
        namespace, name = meta.get("namespace") or "default", meta["name"]
        cm_name = finaliser_job.name_of(name)
        cm = self.api.get("ConfigMap", namespace, cm_name) or {}
        result = (cm.get("data") or {}).get(finaliser_job.RESULT_KEY)
        if result:
            return finaliser_job.decode_result(result)
        job = self.api.get("Job", namespace, cm_name)
        if job is None:
            started = reconcile.parse_rfc3339((body.get("status") or {}).get("startTime"))
            self.api.create(finaliser_job.build_finaliser_job(body, task, self.config, verdict, started))
            return None
        ended = _ended(job)
        if ended is None:
            return self._blocked(job, namespace, name, verdict, queue)
        again = self.api.get("ConfigMap", namespace, cm_name) or {}  # written just before the pod exited?
        result = (again.get("data") or {}).get(finaliser_job.RESULT_KEY)
        if result:
            return finaliser_job.decode_result(result)
        # the Job ended without a result (its pods kept failing): the output was not merged
        why = ended.get("message") or ended.get("reason") or "failed"
        message = f"finalisation failed ({why}); see the logs of the pods of Job {cm_name}"
        return policy.Verdict(policy.FAILED, policy.SYSTEM_ERROR, message), (
            queue.counters() if queue is not None else None
        )

    def _blocked(
        self, job: dict[str, Any], namespace: str, name: str, verdict: policy.Verdict, queue: QueueReader | None
    ) -> Outcome | None:
        """No finaliser pod started ``stop_grace_seconds`` after the Job was
        created (the image the workers could not pull either, no node, a
        missing claim, ...): end the job without finalisation, saying so,
        instead of waiting forever."""
        created = reconcile.parse_rfc3339((job.get("metadata") or {}).get("creationTimestamp"))
        if created is None or time.time() - created < float(self.config.stop_grace_seconds):
            return None
        pods = self.api.list("Pod", namespace, {c.LABEL_JOB: name, c.LABEL_ROLE: finaliser_job.ROLE_FINALISER})
        if any((p.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed") for p in pods):
            return None  # it runs (or ran and the Job will say how it ended)
        found = startup.pending(pods)
        grace = float(self.config.stop_grace_seconds)
        why = found[1] if found else f"no pod of Job {finaliser_job.name_of(name)} started within {grace:g}s"
        note = f"job_result.txt was not written: the finaliser pod cannot start ({why})"
        if verdict.state == policy.SUCCEEDED:  # the outputs were not merged: not a success
            final = policy.Verdict(policy.FAILED, policy.SYSTEM_ERROR, note)
        else:
            final = policy.Verdict(verdict.state, verdict.rule, f"{verdict.message}; {note}")
        return final, queue.counters() if queue is not None else None


def memo_entries(config: Any, api: kubeio.KubeApi) -> dict[str, Any]:
    def open_queue(namespace: str, name: str, task: Any) -> QueueReader:
        return QueueReader(api, namespace, name, task, config.lease_seconds)

    return {"open_coordinator": open_queue, "finaliser": Finaliser(api, config)}
