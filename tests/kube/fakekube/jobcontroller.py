"""Fake batch/v1 job controller: decides, per Job, which pods to create/delete and the new status.

`plan_job(job, pods, now, index_failures)` is a pure function returning a `JobPlan`; the fake
kubelet thread (`kubelet.py`) applies it to the store. What it reproduces of the real controller:
Indexed and NonIndexed completion modes, parallelism, pods named `<job>-<index>-<rand>` with the
`batch.kubernetes.io/job-completion-index` annotation/label and `JOB_COMPLETION_INDEX` env,
hostname `<job>-<index>`, controller ownerReference, the `batch.kubernetes.io/job-tracking` pod
finalizer (a terminated pod is counted once, then its finalizer is removed), backoffLimit (pod
failures, plus container restarts under OnFailure), backoffLimitPerIndex/maxFailedIndexes with
failedIndexes, podFailurePolicy (failurepolicy.py), activeDeadlineSeconds, suspend/resume, and the
conditions of Kubernetes 1.31 (SuccessCriteriaMet+Complete, FailureTarget+Failed, Suspended).
A pod deleted while running counts as failed and is replaced (podReplacementPolicy=TerminatingOrFailed).
"""
from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from typing import Any

from fakekube import failurepolicy
from fakekube.store import random_suffix

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
INDEX_FAILURES_KEY = "batch.kubernetes.io/job-index-failure-count"
TERMINAL = ("Succeeded", "Failed")

Obj = dict[str, Any]


def parse_indexes(text: str | None) -> set[int]:
    """'0-2,5' -> {0, 1, 2, 5}."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if "-" in part:
            low, high = part.split("-", 1)
            found.update(range(int(low), int(high) + 1))
        elif part:
            found.add(int(part))
    return found


def format_indexes(indexes: set[int]) -> str:
    """{0, 1, 2, 5} -> '0-2,5' (the compressed form the real controller writes)."""
    ranges: list[list[int]] = []
    for index in sorted(indexes):
        if ranges and ranges[-1][1] == index - 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def pod_index(pod: Obj) -> int | None:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_KEY)
    return int(value) if value is not None else None


def is_finished(job: Obj) -> str | None:
    """'Complete' or 'Failed' if the job has that condition True, else None."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition["type"]
    return None


@dataclass
class JobPlan:
    """What to do for one Job: pods to create (bodies), pods to delete, finalizers to drop, new status."""

    status: Obj
    create: list[Obj] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    counted: list[str] = field(default_factory=list)  # pod names whose tracking finalizer goes away
    index_failures: dict[int, int] = field(default_factory=dict)


def _set_condition(status: Obj, kind: str, value: str, reason: str, message: str, now: str) -> None:
    conditions = status.setdefault("conditions", [])
    for condition in conditions:
        if condition["type"] == kind:
            if (condition.get("status"), condition.get("reason"), condition.get("message")) == (value, reason, message):
                return
            if condition["status"] != value:
                condition.update(status=value, lastTransitionTime=now)
            condition.update(reason=reason, message=message, lastProbeTime=now)
            return
    conditions.append({"type": kind, "status": value, "reason": reason, "message": message,
                       "lastProbeTime": now, "lastTransitionTime": now})


def build_pod(job: Obj, index: int | None, index_failures: int = 0) -> Obj:
    """The pod the real job controller would create for `index` (None for NonIndexed)."""
    meta = job["metadata"]
    template = copy.deepcopy(job["spec"]["template"])
    pod_meta = template.get("metadata") or {}
    labels = dict(pod_meta.get("labels") or {})
    annotations = dict(pod_meta.get("annotations") or {})
    spec = template["spec"]
    prefix = f"{meta['name']}-"
    if index is not None:
        prefix = f"{meta['name']}-{index}-"
        labels[INDEX_KEY] = str(index)
        annotations[INDEX_KEY] = str(index)
        if job["spec"].get("backoffLimitPerIndex") is not None:
            annotations[INDEX_FAILURES_KEY] = str(index_failures)
        spec.setdefault("hostname", f"{meta['name']}-{index}")
        for container in spec.get("containers") or []:
            env = container.setdefault("env", [])
            if not any(item.get("name") == "JOB_COMPLETION_INDEX" for item in env):
                env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {
                    "fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}})
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": prefix + random_suffix(), "generateName": prefix, "namespace": meta["namespace"],
            "labels": labels, "annotations": annotations, "finalizers": [TRACKING_FINALIZER],
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": spec,
    }


def _owned(job: Obj, pods: list[Obj]) -> list[Obj]:
    uid = job["metadata"]["uid"]
    return [pod for pod in pods if any(ref.get("uid") == uid and ref.get("controller")
                                       for ref in pod["metadata"].get("ownerReferences") or [])]


def plan_job(job: Obj, pods: list[Obj], now: datetime.datetime, index_failures: dict[int, int]) -> JobPlan:
    """Decide one reconcile step of the job controller for `job` given all pods of its namespace."""
    spec = job["spec"]
    status = copy.deepcopy(job.get("status") or {})
    stamp = rfc3339(now)
    failures = dict(index_failures)
    plan = JobPlan(status=status, index_failures=failures)
    indexed = spec.get("completionMode") == "Indexed"
    owned = _owned(job, pods)
    completed = parse_indexes(status.get("completedIndexes"))
    failed_indexes = parse_indexes(status.get("failedIndexes"))
    succeeded, failed = status.get("succeeded", 0), status.get("failed", 0)
    policy_failure: tuple[str, str] | None = None

    for pod in owned:  # count terminated pods exactly once (the tracking finalizer marks "uncounted")
        phase = (pod.get("status") or {}).get("phase")
        if TRACKING_FINALIZER not in (pod["metadata"].get("finalizers") or []) or phase not in TERMINAL:
            continue
        plan.counted.append(pod["metadata"]["name"])
        index = pod_index(pod)
        if phase == "Succeeded":
            if indexed and index is not None:
                completed.add(index)
            else:
                succeeded += 1
        else:
            verdict, why = failurepolicy.action(spec.get("podFailurePolicy"), pod)
            if verdict == "Ignore":
                continue
            failed += 1
            if index is not None:
                failures[index] = failures.get(index, 0) + 1
            if verdict == "FailJob" and policy_failure is None:
                policy_failure = ("PodFailurePolicy", why)
            elif verdict == "FailIndex" and index is not None:
                failed_indexes.add(index)
    if indexed:
        succeeded = len(completed)

    live = [p for p in owned if (p.get("status") or {}).get("phase") not in TERMINAL]
    active = [p for p in live if not p["metadata"].get("deletionTimestamp")]
    terminating = [p for p in live if p["metadata"].get("deletionTimestamp")]
    restarts = sum(cs.get("restartCount", 0) for p in active
                   for cs in (p.get("status") or {}).get("containerStatuses") or [])
    finished = is_finished(job)
    completions = spec.get("completions")
    parallelism = spec.get("parallelism", 1)

    failure: tuple[str, str] | None = None
    complete = False
    if not finished and policy_failure is not None:
        failure = policy_failure
    elif not finished:
        per_index = spec.get("backoffLimitPerIndex")
        if per_index is not None:
            failed_indexes |= {index for index, count in failures.items() if count > per_index}
            failed_indexes -= completed
            max_failed = spec.get("maxFailedIndexes")
            if max_failed is not None and len(failed_indexes) > max_failed:
                failure = ("MaxFailedIndexesExceeded", "Job has exceeded maxFailedIndexes")
        elif failed + restarts > spec.get("backoffLimit", 6):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        deadline = spec.get("activeDeadlineSeconds")
        if failure is None and deadline is not None and status.get("startTime") and not spec.get("suspend"):
            if (now - parse_rfc3339(status["startTime"])).total_seconds() >= deadline:
                failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        if failure is None:
            if indexed:
                everything = set(range(completions))
                if everything <= completed:
                    complete = True
                elif everything <= completed | failed_indexes and failed_indexes:
                    failure = ("FailedIndexes", "Job has failed indexes")
            elif completions is not None:
                complete = succeeded >= completions
            else:
                complete = succeeded >= 1 and not active

    if failure is not None:
        _set_condition(status, "FailureTarget", "True", failure[0], failure[1], stamp)
        _set_condition(status, "Failed", "True", failure[0], failure[1], stamp)
        plan.delete = [p["metadata"]["name"] for p in active]
    elif complete:
        reached = "Reached expected number of succeeded pods"
        _set_condition(status, "SuccessCriteriaMet", "True", "CompletionsReached", reached, stamp)
        _set_condition(status, "Complete", "True", "CompletionsReached", reached, stamp)
        status["completionTime"] = stamp
        plan.delete = [p["metadata"]["name"] for p in active]
    elif finished:
        plan.delete = [p["metadata"]["name"] for p in active]
    elif spec.get("suspend"):
        plan.delete = [p["metadata"]["name"] for p in active]
        _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", stamp)
    else:
        for condition in status.get("conditions") or []:
            if condition["type"] == "Suspended" and condition["status"] == "True":
                _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", stamp)
                status["startTime"] = stamp
        status.setdefault("startTime", stamp)
        slots = max(parallelism - len(active), 0)
        if indexed:
            busy = {pod_index(p) for p in active}
            wanted = [i for i in range(completions) if i not in completed | failed_indexes | busy]
            plan.create = [build_pod(job, i, failures.get(i, 0)) for i in wanted[:slots]]
        else:
            remaining = (completions - succeeded) if completions is not None else (parallelism if succeeded == 0 else 0)
            plan.create = [build_pod(job, None) for _ in range(max(min(slots, remaining - len(active)), 0))]

    status["active"] = len(active) - len(plan.delete) + len(plan.create)
    status["ready"] = sum(1 for p in active if _ready(p) and p["metadata"]["name"] not in plan.delete)
    status["terminating"] = len(terminating) + len(plan.delete)
    status["succeeded"] = succeeded
    status["failed"] = failed
    if indexed:
        status["completedIndexes"] = format_indexes(completed)
        if spec.get("backoffLimitPerIndex") is not None:
            status["failedIndexes"] = format_indexes(failed_indexes)
    status.setdefault("uncountedTerminatedPods", {})
    return plan


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])
