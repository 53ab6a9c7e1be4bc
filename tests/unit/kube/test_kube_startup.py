"""Worker pods that never start (pjob.kube.startup, pure) and what the
operator makes of them: a WorkersPending condition with the pod's reason and
message (Warning event), cleared once the pods run, and a Failed job
(reason FirstTaskCreationTimeout) after --first_task_creation_timeout with no
plan and no running pod, instead of "planning" forever."""

from __future__ import annotations

import pytest
from kube_wrappers import progress
from pjob.engine import policy
from pjob.kube import constants as c
from pjob.kube import startup
from test_kube_handlers import NOW, MemoryKube, apply, body_for, make_memo, tick


def pod(name="pj-workers-0-abcde", phase="Pending", waiting=None, scheduled=None, init_waiting=None, deleting=False):
    status = {"phase": phase} if phase else {}
    if waiting:
        status["containerStatuses"] = [
            {"name": "agent", "state": {"waiting": {"reason": waiting[0], "message": waiting[1]}}}
        ]
    if init_waiting:
        status["initContainerStatuses"] = [
            {"name": "init", "state": {"waiting": {"reason": init_waiting, "message": "m"}}}
        ]
    if scheduled:
        status["conditions"] = [
            {"type": "PodScheduled", "status": scheduled[0], "reason": scheduled[1], "message": scheduled[2]}
        ]
    meta = {"name": name, "labels": {c.LABEL_JOB: "pj", c.LABEL_ROLE: c.ROLE_WORKER}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"kind": "Pod", "metadata": meta, "status": status}


PULL = ("ImagePullBackOff", 'Back-off pulling image "registry/pjob:nope"')
UNSCHEDULABLE = ("False", "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu.")


@pytest.mark.parametrize(
    "given, blocker",
    [
        (pod(waiting=PULL), ("ImagePullBackOff", PULL[1])),
        (pod(waiting=("ErrImagePull", "manifest unknown")), ("ErrImagePull", "manifest unknown")),
        (
            pod(waiting=("CreateContainerConfigError", 'configmap "x" not found')),
            ("CreateContainerConfigError", 'configmap "x" not found'),
        ),
        (pod(scheduled=UNSCHEDULABLE), ("Unschedulable", UNSCHEDULABLE[2])),
        (pod(init_waiting="ErrImagePull"), ("ErrImagePull", "m")),
        (pod(phase=None, scheduled=UNSCHEDULABLE), ("Unschedulable", UNSCHEDULABLE[2])),
        (pod(waiting=("ContainerCreating", "")), None),  # slow, not stuck
        (pod(scheduled=("True", None, None)), None),
        (pod(phase="Running"), None),
        (pod(phase="Failed", waiting=PULL), None),
        (pod(waiting=PULL, deleting=True), None),
    ],
)
def test_pod_blocker(given, blocker):
    found = startup.pod_blocker(given)
    assert (None if found is None else (found.reason, found.message)) == blocker


def test_pending_names_the_first_blocked_pod_and_counts_the_others():
    pods = [pod("pj-workers-1-x", scheduled=UNSCHEDULABLE), pod("pj-workers-0-y", waiting=PULL), pod("pj-workers-2-z")]
    reason, message = startup.pending(pods)
    assert reason == "ImagePullBackOff"
    assert message == f"worker pod pj-workers-0-y cannot start: ImagePullBackOff: {PULL[1]} (and 1 more pod(s))"
    assert startup.pending([pod(phase="Running")]) is None


@pytest.mark.parametrize(
    "planned, pods, started_at, now, expected",
    [
        (False, [pod(waiting=PULL)], 1000.0, 1601.0, True),
        (False, [pod(waiting=PULL)], 1000.0, 1600.0, False),  # not yet
        (False, [], 1000.0, 1601.0, True),  # the Job got no pods at all
        (False, [pod(phase="Running")], 1000.0, 9999.0, False),  # node 0 is planning: the engine's verdict judges
        (True, [pod(waiting=PULL)], 1000.0, 9999.0, False),  # planned: the engine's verdict judges
        (False, None, 1000.0, 9999.0, False),  # pods not read
        (False, [pod()], None, 9999.0, False),  # not started
    ],
)
def test_timed_out(planned, pods, started_at, now, expected):
    assert startup.timed_out(planned=planned, pods=pods, started_at=started_at, now=now, timeout=600) is expected


def test_timeout_message_says_why_and_how_to_fix():
    blocked = startup.timeout_message(600, [pod(waiting=PULL)], "pj-workers")
    assert "--first_task_creation_timeout = 600s" in blocked and "ImagePullBackOff" in blocked
    assert "program_arguments" in blocked
    assert "kubectl describe job pj-workers" in startup.timeout_message(600, [], "pj-workers")
    assert "claim gone" in startup.timeout_message(600, [], "pj-workers", ["claim gone"])


# --- through the handler ----------------------------------------------------------------------------


def _started(project, kube, events, clock):
    memo = make_memo(kube, events)
    memo.clock = lambda: clock[0]
    body = apply(body_for(project), tick(body_for(project), memo))
    events.clear()
    return memo, body


def _conds(body):
    return {x["type"]: x for x in body["status"]["conditions"]}


def test_a_pod_that_cannot_pull_its_image_is_reported_then_cleared_when_it_runs(project):
    kube, events, clock = MemoryKube(), [], [NOW]
    memo, body = _started(project, kube, events, clock)
    kube.objects[("Pod", "ns", "pj-workers-0-a")] = pod("pj-workers-0-a", waiting=PULL)
    kube.objects[("Pod", "ns", "pj-workers-1-b")] = pod("pj-workers-1-b", phase="Running")
    body = apply(body, tick(body, memo))
    pending = _conds(body)[c.WORKERS_PENDING]
    assert (pending["status"], pending["reason"]) == (c.TRUE, "ImagePullBackOff")
    assert pending["message"] == f"worker pod pj-workers-0-a cannot start: ImagePullBackOff: {PULL[1]}"
    assert events == [("Warning", "ImagePullBackOff")]
    assert body["status"]["state"] == c.STATE_RUNNING  # not failed: it may still be fixed
    kube.objects[("Pod", "ns", "pj-workers-0-a")] = pod("pj-workers-0-a", phase="Running")
    body = apply(body, tick(body, memo))
    assert (_conds(body)[c.WORKERS_PENDING]["status"], _conds(body)[c.WORKERS_PENDING]["reason"]) == (
        c.FALSE,
        c.REASON_PODS_STARTED,
    )


def test_workers_that_never_start_fail_the_job_after_the_first_task_creation_timeout(project):
    kube, events, clock = MemoryKube(), [], [NOW]
    finalised = []

    def finaliser(task, queue, verdict, body):
        finalised.append(verdict)
        return verdict, None

    memo, body = _started(project, kube, events, clock)
    memo.finaliser = finaliser
    kube.objects[("Pod", "ns", "pj-workers-0-a")] = pod("pj-workers-0-a", scheduled=UNSCHEDULABLE)
    kube.objects[("Job", "ns", "pj-workers")]["status"] = {"active": 1}  # a pending pod counts as active
    clock[0] = NOW + 599
    body = apply(body, tick(body, memo))
    assert not finalised and c.FAILED not in _conds(body)
    assert _conds(body)[c.WORKERS_PENDING]["reason"] == "Unschedulable"
    clock[0] = NOW + 601
    body = apply(body, tick(body, memo))  # verdict: stop the workers (the Job is deleted)
    assert ("delete", "Job", "pj-workers") in kube.calls
    del kube.objects[("Pod", "ns", "pj-workers-0-a")]  # gone with its Job
    body = apply(body, tick(body, memo))
    failed = _conds(body)[c.FAILED]
    assert (failed["status"], failed["reason"]) == (c.TRUE, "FirstTaskCreationTimeout")
    assert "Unschedulable: 0/3 nodes are available" in failed["message"]
    assert finalised[0].rule == policy.FIRST_TASK_CREATION_TIMEOUT
    assert ("Warning", "FirstTaskCreationTimeout") in events


def test_the_timeout_comes_from_the_runtime_flag(project):
    kube, events, clock = MemoryKube(), [], [NOW]
    memo = make_memo(kube, events)
    memo.clock = lambda: clock[0]
    spec = {"task": {**body_for(project)["spec"]["task"], "program_arguments": "--first_task_creation_timeout 30"}}
    body = apply(body_for(project, **spec), tick(body_for(project, **spec), memo))
    memo.finaliser = lambda task, queue, verdict, body: (verdict, None)
    clock[0] = NOW + 31
    body = apply(body, tick(body, memo))
    body = apply(body, tick(body, memo))
    assert _conds(body)[c.FAILED]["reason"] == "FirstTaskCreationTimeout"
    assert "kubectl describe job pj-workers" in _conds(body)[c.FAILED]["message"]


def test_a_planned_job_reads_no_pods_once_they_run(project):
    kube, events, clock = MemoryKube(), [], [NOW]

    class Queue:
        def counters(self):
            return progress(total=4, pending=4)

    memo, body = _started(project, kube, events, clock)
    memo.open_coordinator = lambda ns, name, task: Queue()
    kube.calls.clear()
    tick(body, memo)
    assert ("list", "Pod", "") not in kube.calls
