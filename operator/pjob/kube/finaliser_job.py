"""The finaliser of a ParallelJob: a one-pod ``batch/v1`` Job the operator
creates once it has decided the verdict and the workers stopped, built like
the worker Job (same image, volumes, env, security context, ServiceAccount,
the same init container unpacking shipped code), running ``pjob finalise``
(``pjob.kube.finalise_cmd``) on the datastore. The operator never mounts the
datastore: it talks to the finaliser through the API only.

The verdict travels in the Job's args (``--verdict JSON``: state, rule,
message, the job's start time; fixed when the Job is created, so the verdict
first decided is the one finalised). The finaliser writes its outcome as its
last step: it creates the ConfigMap ``<job>-finalise`` (key ``result.json``:
the final verdict and counters), owned by the CR; the operator marks the CR
terminal once it reads it. Two writes in all (the Job, the ConfigMap). Both
names are fixed, so an operator restart re-finds them (a create costs a 409,
never a second finaliser), and a finaliser pod that dies mid-way is replaced
by the Job (``backoffLimit``) and finalises again from the start
(``pjob.engine.finalise`` rewrites every file whole, through staging files);
one that finds the ConfigMap already there stops at once.
"""

from __future__ import annotations

import json
from typing import Any

from pjob.engine import policy
from pjob.engine.task import ParallelTask
from pjob.kube import builders, unpack_cmd
from pjob.kube import constants as c
from pjob.kube.config import OperatorConfig
from pjob.queue.protocol import Progress

ROLE_FINALISER = "finaliser"
CONTAINER = "finalise"
RESULT_KEY = "result.json"
BACKOFF_LIMIT = 2  # a crashed finaliser is replaced twice, then the job fails with the pod's reason
COUNTER_FIELDS = ("total", "done", "failed", "items_succeeded", "items_failed", "pending", "leased")


def name_of(job: str) -> str:
    """Name of both the finaliser Job and its ConfigMap."""
    return c.dns_name(f"{job}-finalise")


def encode_verdict(verdict: policy.Verdict, started: float | None) -> str:
    payload = {"state": verdict.state, "rule": verdict.rule, "message": verdict.message, "started": started}
    return json.dumps(payload, sort_keys=True)


def finalise_args(cr: dict[str, Any], verdict: policy.Verdict, started: float | None) -> list[str]:
    meta = cr["metadata"]
    namespace = meta.get("namespace") or "default"
    owner = {k: v for k, v in builders.owner_reference(cr).items() if k in ("apiVersion", "kind", "name", "uid")}
    return [
        "finalise",
        "--coordinator",
        f"kube://{namespace}/{meta['name']}",
        "--task",
        f"configmap:{c.task_configmap_name(meta['name'])}",
        "--verdict",
        encode_verdict(verdict, started),
        "--result",
        f"configmap:{name_of(meta['name'])}",
        "--owner",
        json.dumps(owner, sort_keys=True),
    ]


def build_result_configmap(owner: dict[str, Any], namespace: str, job: str, text: str) -> dict[str, Any]:
    """What the finaliser creates last; owned by the CR (no blockOwnerDeletion:
    the workers' Role cannot update the CR's finalizers)."""
    labels = {c.LABEL_MANAGED_BY: c.MANAGED_BY, c.LABEL_JOB: job, c.LABEL_ROLE: ROLE_FINALISER}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name_of(job),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [{**owner, "controller": True}],
        },
        "data": {RESULT_KEY: text},
    }


def build_finaliser_job(
    cr: dict[str, Any], task: ParallelTask, config: OperatorConfig, verdict: policy.Verdict, started: float | None
) -> dict[str, Any]:
    """One pod, the worker pods' settings (no GPUs: it runs no user code)."""
    name = cr["metadata"]["name"]
    container = {
        "name": CONTAINER,
        "args": finalise_args(cr, verdict, started),
        "env": builders._platform_env(config),
        "workingDir": config.worker.get("workDir") or "/work",
    }
    pod = builders._pod_spec(config, container, service_account=c.worker_account_name(name), restart="Never")
    unpack_cmd.add_to_pod(pod, unpack_cmd.shipped_entries(cr) or [], builders._namespace(cr))
    labels = builders._labels(cr, ROLE_FINALISER)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": builders._metadata(cr, name_of(name), ROLE_FINALISER),
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": BACKOFF_LIMIT,
            "template": {"metadata": builders._template_metadata(labels, config), "spec": pod},
        },
    }


# --- the result, both ways -----------------------------------------------------------------------------


def encode_result(verdict: policy.Verdict, counters: Progress | None) -> str:
    fields = {k: getattr(counters, k) for k in COUNTER_FIELDS} if counters is not None else None
    payload = {"state": verdict.state, "rule": verdict.rule, "message": verdict.message, "counters": fields}
    return json.dumps(payload, sort_keys=True)


def decode_result(text: str) -> tuple[policy.Verdict, Progress | None]:
    raw = json.loads(text)
    counters = raw.get("counters")
    progress = Progress(**{k: int(v) for k, v in counters.items() if k in COUNTER_FIELDS}) if counters else None
    return policy.Verdict(raw["state"], raw.get("rule"), raw.get("message") or ""), progress


def decode_verdict(text: str) -> tuple[policy.Verdict, float | None]:
    raw = json.loads(text)
    started = raw.get("started")
    verdict = policy.Verdict(raw["state"], raw.get("rule"), raw.get("message") or "")
    return verdict, float(started) if started is not None else None
