"""Pure decisions about worker pods that do not start, so a job never stays
"planning" forever:

- ``pod_blocker``: why one pod cannot start, from its own status: a
  container waiting for a reason that does not clear by itself
  (``ImagePullBackOff``, ``ErrImagePull``, ``CreateContainerConfigError``,
  ...) or ``PodScheduled=False`` (``Unschedulable``, with the scheduler's
  message);
- ``pending``: the ``WorkersPending`` condition's (reason, message) for a
  set of pods, or None when none is blocked;
- ``timed_out``: the job has no plan yet, no worker pod is running and
  ``--first_task_creation_timeout`` (Azure's runtime flag; default 600 s)
  has passed since the job started: fail it, saying why (``timeout_message``).

Pods are plain dicts as the API returns them. Called by
``pjob.kube.reconcile``; table tests in tests/unit/kube/test_kube_startup.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pjob.kube import constants as c

# waiting reasons that need a fix from someone (a ContainerCreating or PodInitializing pod is just slow)
BLOCKING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RegistryUnavailable",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreCreateHookError",
        "PostStartHookError",
        "CrashLoopBackOff",
    }
)


@dataclasses.dataclass(frozen=True)
class Blocker:
    pod: str
    reason: str
    message: str


def _status(pod: dict[str, Any]) -> dict[str, Any]:
    return pod.get("status") or {}


def running(pod: dict[str, Any]) -> bool:
    return _status(pod).get("phase") == "Running"


def pod_blocker(pod: dict[str, Any]) -> Blocker | None:
    """Why ``pod`` cannot start, or None (started, finished, going away, or just not there yet)."""
    status = _status(pod)
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp") or status.get("phase") not in (None, "Pending"):
        return None
    name = meta.get("name") or "?"
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in BLOCKING_REASONS:
            return Blocker(name, waiting["reason"], waiting.get("message") or f"container {container.get('name')}")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == c.FALSE:
            return Blocker(name, cond.get("reason") or "Unschedulable", cond.get("message") or "not scheduled")
    return None


def blockers(pods: list[dict[str, Any]]) -> list[Blocker]:
    return sorted((b for b in map(pod_blocker, pods) if b is not None), key=lambda b: b.pod)


def pending(pods: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(reason, message) of the WorkersPending condition, or None when no pod is blocked."""
    found = blockers(pods)
    if not found:
        return None
    first = found[0]
    more = f" (and {len(found) - 1} more pod(s))" if len(found) > 1 else ""
    return first.reason, c.MSG_WORKERS_PENDING.format(
        pod=first.pod, reason=first.reason, message=first.message, more=more
    )


def timed_out(
    *, planned: bool, pods: list[dict[str, Any]] | None, started_at: float | None, now: float, timeout: float
) -> bool:
    """Fail the job for not starting: no plan yet, no worker pod running, and
    ``timeout`` seconds gone since the job started. ``pods`` None = not
    observed: no decision."""
    if planned or pods is None or started_at is None:
        return False
    return now - started_at > timeout and not any(running(p) for p in pods)


def timeout_message(
    timeout: float, pods: list[dict[str, Any]], job_name: str, claim_problems: list[str] | None = None
) -> str:
    """What kept the workers from starting, for the Failed condition and job_result.txt."""
    if claim_problems:
        why = "; ".join(claim_problems)
    elif (found := pending(pods)) is not None:  # a pod is blocked
        why = found[1]
    elif not pods:
        why = (
            f"the Job {job_name} has no pods: see `kubectl describe job {job_name}` for why (admission, "
            "quota, a missing ServiceAccount)"
        )
    else:
        phases = ", ".join(
            f"{(p.get('metadata') or {}).get('name')}: {_status(p).get('phase') or 'Pending'}" for p in pods
        )
        why = f"worker pods not running: {phases}; see `kubectl describe pod` for each"
    return c.MSG_STARTUP_TIMEOUT.format(timeout=timeout, why=why)
