"""Pure reconcile of one ParallelJob: what the cluster looks like (the CR,
which children exist, the worker Job's status, the queue's counters) in, what
to do (children to create, stop the workers, finalise) and the new status out.

Level-triggered and idempotent: the same observation gives the same decision,
so it is safe to run on every timer tick and after an operator restart; child
names are fixed, so the worst a race can do is a 409 on a create. Conditions
follow ``pjob.kube.conditions`` (JobSet's rules); the caller writes
``Decision.status`` once and posts ``Decision.events`` after that write.

Called by ``pjob.kube.handlers``; table-driven tests in
``tests/unit/kube/test_reconcile.py``.
"""

from __future__ import annotations

import calendar
import copy
import dataclasses
import time
from typing import Any

from pjob.engine import policy, step_verdict
from pjob.kube import conditions as cond
from pjob.kube import constants as c
from pjob.kube import startup
from pjob.queue.protocol import Progress
from pjob.spec import crds


@dataclasses.dataclass
class Observed:
    body: dict[str, Any]  # the CR as read (metadata, spec, status)
    now: float  # epoch seconds
    problems: list[str] | None = None  # spec problems; None = not checked (already valid)
    desired: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # every child, from the builders
    existing: set[tuple[str, str]] = dataclasses.field(default_factory=set)  # (kind, name) present
    worker_job: dict[str, Any] | None = None  # the Indexed Job as read
    counters: Progress | None = None  # once planned, else None
    limits: policy.Limits | None = None
    workers_running: int = 0  # worker pods not yet finished
    stop_grace: float = 60.0  # seconds workers get to stop by themselves after a Succeeded verdict
    pods: list[dict[str, Any]] | None = None  # the worker pods, when read (while starting up, and after a verdict)
    claim_problems: list[str] = dataclasses.field(default_factory=list)  # claims the workers mount, missing


@dataclasses.dataclass
class Decision:
    status: dict[str, Any]
    create: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stop_workers: bool = False
    finalise: policy.Verdict | None = None  # run finalisation with this verdict, then call ``finished``
    events: list[cond.Event] = dataclasses.field(default_factory=list)

    def status_changed(self, before: dict[str, Any] | None) -> bool:
        return self.status != (before or {})


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_rfc3339(text: str | None) -> float | None:
    if not text:
        return None
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def _job_condition(job: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in ((job or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_ and item.get("status") == c.TRUE:
            return dict(item)
    return None


def counters_status(status: dict[str, Any], p: Progress) -> None:
    status.update(
        crds.JobStatus(
            miniBatches=crds.Counts(total=p.total, done=p.done, failed=p.failed),
            items=crds.ItemCounts(succeeded=p.items_succeeded, failed=p.items_failed),
            progress=f"{p.done + p.failed}/{p.total}",
        ).model_dump(exclude_none=True)
    )


def finish_status(status: dict[str, Any], tracker: cond.Tracker, now: float) -> dict[str, Any]:
    """The status to write, built from ``spec.crds.JobStatus`` (the model the CRD's status schema is
    generated from); keys the model does not describe (``verdict``: the operator's own) are kept."""
    typed = crds.JobStatus.model_validate(status)
    typed.conditions = [crds.Condition.model_validate(item) for item in tracker.conditions]
    typed.state = cond.summary_state(tracker.conditions)
    if cond.terminal(tracker.conditions) and not typed.completionTime:
        typed.completionTime = rfc3339(now)
    return {**status, **typed.model_dump(exclude_none=True)}


def _tracker(body: dict[str, Any], status: dict[str, Any], now: float) -> cond.Tracker:
    generation = (body.get("metadata") or {}).get("generation")
    return cond.Tracker(status.get("conditions"), now=rfc3339(now), generation=generation)


def reconcile(obs: Observed) -> Decision:
    body = obs.body
    before = body.get("status") or {}
    status = copy.deepcopy(before)
    generation = (body.get("metadata") or {}).get("generation")
    tracker = _tracker(body, status, obs.now)

    if cond.terminal(status.get("conditions")):
        return Decision(status=status)  # terminal: nothing more to do, ever
    if obs.problems:
        message = "; ".join(obs.problems)
        tracker.set(c.SPEC_VALID, c.FALSE, c.REASON_SPEC_INVALID, message)
        tracker.set(c.FAILED, c.TRUE, c.REASON_SPEC_INVALID, message)
        status["observedGeneration"] = generation
        return Decision(status=finish_status(status, tracker, obs.now), events=tracker.events)
    started = bool(status.get("startTime"))
    if started and status.get("observedGeneration") not in (None, generation):
        tracker.set(
            c.SPEC_VALID, c.TRUE, c.REASON_SPEC_CHANGE_IGNORED, c.MSG_SPEC_CHANGE_IGNORED.format(generation=generation)
        )
    elif obs.problems is not None and not started:
        tracker.set(c.SPEC_VALID, c.TRUE, c.REASON_SPEC_VALID, c.MSG_SPEC_VALID)
    status["observedGeneration"] = generation
    decision = Decision(status=status)

    verdict = status.get("verdict")
    if verdict is None:  # not stopping: make sure every child exists (no workers while a claim is missing)
        decision.create = [
            obj
            for obj in obs.desired
            if (obj["kind"], obj["metadata"]["name"]) not in obs.existing
            and not (obs.claim_problems and obj["kind"] == "Job")
        ]
    job_present = obs.worker_job is not None or any(k == "Job" for k, _ in obs.existing)
    if job_present or decision.create:
        if not status.get("startTime"):
            status["startTime"] = rfc3339(obs.now)
        if verdict is None and (job_present or any(o["kind"] == "Job" for o in decision.create)):
            instances = ((obs.worker_job or {}).get("spec") or {}).get("parallelism") or next(
                (o["spec"]["parallelism"] for o in obs.desired if o["kind"] == "Job"), 1
            )
            if obs.counters is None:
                tracker.set(
                    c.RUNNING, c.TRUE, c.REASON_WORKERS_STARTED, c.MSG_WORKERS_STARTED.format(instances=instances)
                )
    if obs.counters is not None:
        counters_status(status, obs.counters)

    if verdict is None:
        _workers_pending(tracker, obs)
        verdict = _verdict(obs, status)
        if verdict is not None:
            status["verdict"] = verdict
        elif obs.counters is not None:
            p = obs.counters
            tracker.set(
                c.RUNNING,
                c.TRUE,
                c.REASON_IN_PROGRESS,
                c.MSG_IN_PROGRESS.format(done=p.done + p.failed, total=p.total, failed=p.failed),
            )
    if verdict is not None:
        tracker.set(c.RUNNING, c.TRUE, c.REASON_FINALISING, c.MSG_FINALISING.format(verdict=verdict["state"]))
        workers_done = obs.workers_running == 0 and not _job_active(obs.worker_job)
        waited = obs.now - verdict["time"]
        # a Failed verdict stops the workers at once; after Succeeded they exit by themselves
        if (
            obs.worker_job is not None
            and not workers_done
            and (verdict["state"] == policy.FAILED or waited > obs.stop_grace)
        ):
            decision.stop_workers = True
        if workers_done or waited > 2 * obs.stop_grace:
            decision.finalise = policy.Verdict(verdict["state"], verdict.get("rule"), verdict.get("message", ""))
    decision.status = finish_status(status, tracker, obs.now)
    decision.events = tracker.events
    return decision


def _workers_pending(tracker: cond.Tracker, obs: Observed) -> None:
    """WorkersPending: True with the first blocked pod's reason and message (or
    the missing claim); back to False once no pod is blocked."""
    if obs.claim_problems:
        tracker.set(c.WORKERS_PENDING, c.TRUE, c.REASON_CLAIM_NOT_FOUND, "; ".join(obs.claim_problems))
        return
    if obs.pods is None:
        return
    found = startup.pending(obs.pods)
    if found is not None:
        tracker.set(c.WORKERS_PENDING, c.TRUE, *found)
    elif cond.find(tracker.conditions, c.WORKERS_PENDING) is not None:
        tracker.set(c.WORKERS_PENDING, c.FALSE, c.REASON_PODS_STARTED, c.MSG_PODS_STARTED)


def _job_active(job: dict[str, Any] | None) -> bool:
    if job is None:
        return False
    if _job_condition(job, "Complete") or _job_condition(job, "Failed"):
        return False
    return int((job.get("status") or {}).get("active") or 0) > 0


def _agents(job: dict[str, Any] | None) -> step_verdict.Agents:
    """What the worker Job says of the agents: Failed (its pods used up their
    retries, or one exited 3/4 on purpose: finalisation reads its fatal error),
    or Complete (every pod exited 0)."""
    failed = _job_condition(job, "Failed")
    if failed:
        return step_verdict.Agents(
            crashed=f"the worker Job failed: {failed.get('message') or failed.get('reason') or 'failed'}"
        )
    return step_verdict.Agents(all_exited=_job_condition(job, "Complete") is not None)


def _verdict(obs: Observed, status: dict[str, Any]) -> dict[str, Any] | None:
    """The step's verdict (``engine.step_verdict``: the counters', else what the
    worker Job says of the agents), else a startup timeout of the worker pods."""
    started = parse_rfc3339(status.get("startTime")) or obs.now
    v = step_verdict.step_verdict(obs.counters, obs.limits, _agents(obs.worker_job), now=obs.now, started_at=started)
    if v.final:
        return {"state": v.state, "rule": v.rule, "message": v.message, "time": obs.now}
    pods = obs.pods if obs.pods is not None or not obs.claim_problems else []
    if (
        obs.counters is None
        and obs.limits is not None
        and startup.timed_out(
            planned=False,
            pods=pods,
            started_at=parse_rfc3339(status.get("startTime")),
            now=obs.now,
            timeout=obs.limits.first_task_creation_timeout,
        )
    ):
        job_name = (obs.worker_job or {}).get("metadata", {}).get("name") or next(
            (o["metadata"]["name"] for o in obs.desired if o["kind"] == "Job"), "?"
        )
        message = startup.timeout_message(
            obs.limits.first_task_creation_timeout, pods or [], job_name, obs.claim_problems
        )
        return {"state": policy.FAILED, "rule": policy.FIRST_TASK_CREATION_TIMEOUT, "message": message, "time": obs.now}
    return None


def finished(
    body: dict[str, Any],
    status: dict[str, Any],
    verdict: policy.Verdict,
    counters: Progress | None,
    now: float,
    *,
    outputs: dict[str, str] | None = None,
    logs: str | None = None,
) -> Decision:
    """Status after finalisation: the terminal condition, final counters, where things are."""
    status = copy.deepcopy(status)
    status.pop("verdict", None)
    tracker = _tracker(body, status, now)
    if counters is not None:
        counters_status(status, counters)
    if outputs is not None:
        status["outputs"] = outputs
    if logs is not None:
        status["logs"] = logs
    if verdict.state == policy.SUCCEEDED:
        tracker.set(c.SUCCEEDED, c.TRUE, c.REASON_COMPLETED, c.MSG_COMPLETED.format(message=verdict.message))
    else:
        tracker.set(c.FAILED, c.TRUE, c.failed_reason(verdict.rule), verdict.message)
    return Decision(status=finish_status(status, tracker, now), events=tracker.events)
