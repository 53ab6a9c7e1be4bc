"""Pure reconcile of one PipelineJob: a DAG of steps, each run by a child
(a ParallelJob for a parallel step, a ``batch/v1`` Job for a command step)
created once every step it reads from has Succeeded.

A failed step fails the pipeline: nothing downstream starts (those steps end
``Skipped``); independent steps already running finish first, then the
pipeline is Failed. ``settings.continue_on_step_failure`` keeps starting
steps whose own upstream succeeded. Status lists every step's state.

Called by ``pjob.kube.handlers``; tests in ``tests/unit/kube/test_reconcile_pipeline.py``.
"""

from __future__ import annotations

import copy
import dataclasses

from pjob.kube import conditions as cond
from pjob.kube import constants as c
from pjob.kube import reconcile as rec


@dataclasses.dataclass
class StepInfo:
    name: str
    kind: str  # parallel | command
    deps: list[str]  # steps whose outputs it reads
    child: dict  # the child object the builders made for it


@dataclasses.dataclass
class Observed:
    body: dict
    now: float
    problems: list[str] | None = None
    steps: list[StepInfo] = dataclasses.field(default_factory=list)  # in run order
    children: dict[str, dict] = dataclasses.field(default_factory=dict)  # step -> child object as read
    continue_on_step_failure: bool = False


def child_state(kind: str, child: dict | None) -> tuple[str, str | None]:
    """(step state, message) from the observed child."""
    if child is None:
        return c.STEP_PENDING, None
    status = child.get("status") or {}
    if kind == "parallel":
        conds = status.get("conditions")
        done = cond.terminal(conds)
        if done == c.SUCCEEDED:
            return c.STEP_SUCCEEDED, None
        if done == c.FAILED:
            return c.STEP_FAILED, (cond.find(conds, c.FAILED) or {}).get("message")
        return c.STEP_RUNNING, status.get("progress")
    # a command step's Job
    for item in status.get("conditions") or []:
        if item.get("status") != c.TRUE:
            continue
        if item.get("type") == "Complete":
            return c.STEP_SUCCEEDED, None
        if item.get("type") == "Failed":
            return c.STEP_FAILED, "the command failed; see its logs/job_result.txt"
    if int(status.get("succeeded") or 0) >= 1:
        return c.STEP_SUCCEEDED, None
    if int(status.get("failed") or 0) >= 1:
        return c.STEP_FAILED, "the command failed; see its logs/job_result.txt"
    return c.STEP_RUNNING, None


def reconcile(obs: Observed) -> rec.Decision:
    body = obs.body
    status = copy.deepcopy(body.get("status") or {})
    generation = (body.get("metadata") or {}).get("generation")
    tracker = cond.Tracker(status.get("conditions"), now=rec.rfc3339(obs.now), generation=generation)
    if cond.terminal(status.get("conditions")):
        return rec.Decision(status=status)
    if obs.problems:
        message = "; ".join(obs.problems)
        tracker.set(c.SPEC_VALID, c.FALSE, c.REASON_SPEC_INVALID, message)
        tracker.set(c.FAILED, c.TRUE, c.REASON_SPEC_INVALID, message)
        status["observedGeneration"] = generation
        return rec.Decision(status=rec.finish_status(status, tracker, obs.now), events=tracker.events)
    if obs.problems is not None:
        tracker.set(c.SPEC_VALID, c.TRUE, c.REASON_SPEC_VALID, c.MSG_SPEC_VALID)
    status["observedGeneration"] = generation

    observed = {step.name: child_state(step.kind, obs.children.get(step.name)) for step in obs.steps}
    first_failure = next(
        ((name, msg or "failed") for name, (state, msg) in observed.items() if state == c.STEP_FAILED), None
    )
    stop_all = first_failure is not None and not obs.continue_on_step_failure
    states: dict[str, str] = {}
    steps_status: dict[str, dict] = {}
    create: list[dict] = []
    for step in obs.steps:  # run order: a step's upstream is judged before it
        state, message = observed[step.name]
        if state == c.STEP_PENDING:
            upstream = [states[d] for d in step.deps if d in states]
            if any(s in (c.STEP_FAILED, c.STEP_SKIPPED) for s in upstream):
                state, message = c.STEP_SKIPPED, "an upstream step failed"
            elif stop_all:
                state, message = c.STEP_SKIPPED, "an earlier step failed"
            elif all(s == c.STEP_SUCCEEDED for s in upstream):
                create.append(step.child)
                state = c.STEP_RUNNING
        states[step.name] = state
        entry = {"state": state, "kind": step.kind, "child": step.child["metadata"]["name"]}
        if message:
            entry["message"] = message
        steps_status[step.name] = entry
    status["steps"] = steps_status
    total = len(obs.steps)
    succeeded = sum(1 for s in steps_status.values() if s["state"] == c.STEP_SUCCEEDED)
    running = [n for n, s in steps_status.items() if s["state"] == c.STEP_RUNNING]
    status["progress"] = f"{succeeded}/{total}"
    if running or create:
        if not status.get("startTime"):
            status["startTime"] = rec.rfc3339(obs.now)
        tracker.set(
            c.RUNNING,
            c.TRUE,
            c.REASON_STEPS_RUNNING,
            c.MSG_STEPS_RUNNING.format(running=", ".join(running), succeeded=succeeded, total=total),
        )
    elif first_failure:
        step, message = first_failure
        tracker.set(c.FAILED, c.TRUE, c.REASON_STEP_FAILED, c.MSG_STEP_FAILED.format(step=step, message=message))
    elif succeeded == total:
        tracker.set(c.SUCCEEDED, c.TRUE, c.REASON_STEPS_COMPLETED, c.MSG_STEPS_COMPLETED.format(total=total))
    return rec.Decision(status=rec.finish_status(status, tracker, obs.now), create=create, events=tracker.events)
