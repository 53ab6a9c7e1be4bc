"""Pod status documents the stand-in kubelet reports (pure builders).

Shapes follow a real kubelet: phase, hostIP/podIP, startTime, the four standard conditions,
one containerStatus per run with `state` running / terminated (exitCode, reason Completed/Error/
StartError) / waiting (ContainerCreating) and `lastState` after a restart. `timeless` strips
timestamps so the kubelet writes only real changes.
"""

from __future__ import annotations

import datetime
from typing import Any

Obj = dict[str, Any]


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def base(pod: Obj, phase: str, ready: bool) -> Obj:
    now = now_rfc3339()
    old = pod.get("status") or {}
    flag = "True" if ready else "False"
    standard = (("PodScheduled", "True"), ("Initialized", "True"), ("ContainersReady", flag), ("Ready", flag))
    return {
        "phase": phase,
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "qosClass": old.get("qosClass", "BestEffort"),
        "startTime": old.get("startTime", now),
        "conditions": [{"type": t, "status": s, "lastTransitionTime": now} for t, s in standard],
    }


def container(
    pod: Obj, state: Obj, ready: bool, restart_count: int, pid: int | None, last_state: Obj | None = None
) -> Obj:
    spec = pod["spec"]["containers"][0]
    return {
        "name": spec["name"],
        "image": spec.get("image", ""),
        "imageID": "",
        "containerID": f"standin://{pid}" if pid else "",
        "ready": ready,
        "started": ready,
        "restartCount": restart_count,
        "state": state,
        "lastState": last_state or {},
    }


def running(pod: Obj, pid: int, started_at: str, restart_count: int, last_state: Obj | None) -> Obj:
    status = base(pod, "Running", True)
    status["containerStatuses"] = [
        container(pod, {"running": {"startedAt": started_at}}, True, restart_count, pid, last_state)
    ]
    return status


def terminated_state(exit_code: int, pid: int, started_at: str) -> Obj:
    return {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "startedAt": started_at,
        "finishedAt": now_rfc3339(),
        "containerID": f"standin://{pid}",
    }


def terminated(pod: Obj, state: Obj, restart_count: int, pid: int, last_state: Obj | None = None) -> Obj:
    status = base(pod, "Succeeded" if state["exitCode"] == 0 else "Failed", False)
    status["containerStatuses"] = [container(pod, {"terminated": state}, False, restart_count, pid, last_state)]
    return status


def never_started(pod: Obj, message: str) -> Obj:
    status = base(pod, "Failed", False)
    status["message"] = message
    return status


def waiting(pod: Obj, reason: str, message: str) -> Obj:
    status = base(pod, "Pending", False)
    status["containerStatuses"] = [container(pod, {"waiting": {"reason": reason, "message": message}}, False, 0, None)]
    return status


def start_error(pod: Obj, message: str) -> Obj:
    status = base(pod, "Failed", False)
    status["containerStatuses"] = [
        container(
            pod,
            {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": message,
                    "startedAt": now_rfc3339(),
                    "finishedAt": now_rfc3339(),
                }
            },
            False,
            0,
            None,
        )
    ]
    return status


def timeless(value: Any) -> Any:
    """`value` without timestamps, to tell a real status change from a re-stamp."""
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if not (k.endswith("Time") or k.endswith("At"))}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value


def with_current_extra_conditions(status: Obj, current: Obj | None) -> Obj:
    """`status` plus conditions others added meanwhile (e.g. DisruptionTarget), which the kubelet keeps."""
    standard = {c["type"] for c in status.get("conditions") or []}
    extra = [c for c in (current or {}).get("conditions") or [] if c.get("type") not in standard]
    return {**status, "conditions": (status.get("conditions") or []) + extra}
