"""Pure reconcile of one PipelineJob: a DAG of steps, each run by a child
(a ParallelJob for a parallel step, a ``batch/v1`` Job for a command step)
created once every step it reads from has Succeeded.

Which steps start, which are ``Skipped`` (and why) and the pipeline's state
are ``pjob.engine.dag.next_steps``'s, the policy ``pjob run`` follows too: a
failed step fails the pipeline, nothing downstream starts, independent steps
already running finish first; ``settings.continue_on_step_failure`` keeps
starting steps whose own upstream succeeded. This module reads each child's
state and writes status (every step's state) and conditions.

Called by ``pjob.kube.handlers``; tests in ``tests/unit/kube/test_reconcile_pipeline.py``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from pjob.engine import dag
from pjob.kube import conditions as cond
from pjob.kube import constants as c
from pjob.kube import reconcile as rec
from pjob.spec import crds


@dataclasses.dataclass
class StepInfo:
    name: str
    kind: str  # parallel | command
    deps: list[str]  # steps whose outputs it reads
    child: dict[str, Any]  # the child object the builders made for it


@dataclasses.dataclass
class Observed:
    body: dict[str, Any]
    now: float
    problems: list[str] | None = None
    steps: list[StepInfo] = dataclasses.field(default_factory=list)  # in run order
    children: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # step -> child object as read
    continue_on_step_failure: bool = False


def child_state(kind: str, child: dict[str, Any] | None) -> tuple[str, str | None]:
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
    before = {name: state for name, (state, _) in observed.items()}
    decided = dag.next_steps(before, {step.name: step.deps for step in obs.steps}, obs.continue_on_step_failure)
    states = decided.states(before)
    create = [step.child for step in obs.steps if step.name in decided.start]
    steps_status = {
        step.name: crds.StepStatus(
            state=states[step.name],
            kind=step.kind,
            child=step.child["metadata"]["name"],
            message=decided.skip.get(step.name) or observed[step.name][1] or None,
        )
        for step in obs.steps
    }
    status["steps"] = {name: entry.model_dump(exclude_none=True) for name, entry in steps_status.items()}
    total = len(obs.steps)
    succeeded = sum(1 for state in states.values() if state == c.STEP_SUCCEEDED)
    running = [name for name, state in states.items() if state == c.STEP_RUNNING]
    status["progress"] = f"{succeeded}/{total}"
    if decided.state == dag.RUNNING:
        if not status.get("startTime"):
            status["startTime"] = rec.rfc3339(obs.now)
        tracker.set(
            c.RUNNING,
            c.TRUE,
            c.REASON_STEPS_RUNNING,
            c.MSG_STEPS_RUNNING.format(running=", ".join(running), succeeded=succeeded, total=total),
        )
    elif decided.state == dag.FAILED and decided.failed is not None:
        message = observed[decided.failed][1] or "failed"
        tracker.set(
            c.FAILED, c.TRUE, c.REASON_STEP_FAILED, c.MSG_STEP_FAILED.format(step=decided.failed, message=message)
        )
    elif decided.state == dag.SUCCEEDED:
        tracker.set(c.SUCCEEDED, c.TRUE, c.REASON_STEPS_COMPLETED, c.MSG_STEPS_COMPLETED.format(total=total))
    return rec.Decision(status=rec.finish_status(status, tracker, obs.now), create=create, events=tracker.events)
