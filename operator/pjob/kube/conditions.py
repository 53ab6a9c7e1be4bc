"""Pure condition bookkeeping for ParallelJob/PipelineJob status, with
JobSet's rules:

- setting a condition identical to the current one (type, status, reason,
  message) is a no-op;
- a reason or message change with the same status updates the condition but
  keeps ``lastTransitionTime`` (not a transition: no event);
- a status change is a transition: new ``lastTransitionTime`` and one Event;
- ``Running``, ``Succeeded`` and ``Failed`` are mutually exclusive: setting
  one True flips any other True one to False.

Called by ``pjob.kube.reconcile`` and ``pjob.kube.reconcile_pipeline``, which
collect the returned events and hand them to the kopf glue to post after the
(single) status write.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from pjob.engine import jobview
from pjob.kube import constants as c
from pjob.spec import crds


@dataclasses.dataclass(frozen=True)
class Event:
    """An Event to post for a condition transition that was written."""

    type: str  # Normal | Warning
    reason: str
    message: str


def find(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    return next((cond for cond in conditions or [] if cond.get("type") == type_), None)


def is_true(conditions: list[dict[str, Any]] | None, type_: str) -> bool:
    cond = find(conditions, type_)
    return bool(cond and cond.get("status") == c.TRUE)


def _event_type(type_: str, status: str) -> str:
    bad = (type_ in (c.FAILED, c.WORKERS_PENDING) and status == c.TRUE) or (type_ == c.SPEC_VALID and status == c.FALSE)
    return c.EVENT_WARNING if bad else c.EVENT_NORMAL


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: str,
    reason: str,
    message: str,
    *,
    now: str,
    generation: int | None = None,
) -> tuple[list[dict[str, Any]], Event | None]:
    """Return (new conditions, the Event for a transition or None). Never
    mutates ``conditions``; the order of existing conditions is kept."""
    out = copy.deepcopy(list(conditions or []))
    current = find(out, type_)
    wanted = crds.Condition(type=type_, status=status, reason=reason, message=message).model_dump(exclude_none=True)
    if current is not None and all(current.get(k) == v for k, v in wanted.items()):
        if generation is not None and current.get("observedGeneration") != generation:
            current["observedGeneration"] = generation
        return out, None
    event = None
    if current is None:
        current = {"type": type_}
        out.append(current)
        transition = True
    else:
        transition = current.get("status") != status
    current.update(wanted)
    if generation is not None:
        current["observedGeneration"] = generation
    if transition:
        current["lastTransitionTime"] = now
        event = Event(_event_type(type_, status), reason, message)
    if status == c.TRUE and type_ in c.EXCLUSIVE:
        for other in out:
            if other["type"] in c.EXCLUSIVE and other["type"] != type_ and other.get("status") == c.TRUE:
                other.update(
                    status=c.FALSE,
                    reason=c.REASON_FINISHED,
                    message=c.MSG_FINISHED.format(state=type_),
                    lastTransitionTime=now,
                )
                if generation is not None:
                    other["observedGeneration"] = generation
    return out, event


class Tracker:
    """Accumulates condition changes during one reconcile, so the caller
    writes status once and posts exactly the events of written transitions."""

    def __init__(self, conditions: list[dict[str, Any]] | None, *, now: str, generation: int | None):
        self.conditions = copy.deepcopy(list(conditions or []))
        self.now = now
        self.generation = generation
        self.events: list[Event] = []

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        self.conditions, event = set_condition(
            self.conditions, type_, status, reason, message, now=self.now, generation=self.generation
        )
        if event is not None:
            self.events.append(event)

    def true(self, type_: str) -> bool:
        return is_true(self.conditions, type_)


# ``Succeeded``/``Failed`` when the job reached one, else None: one rule, shared with the CLI and local runs
terminal = jobview.terminal_state


def summary_state(conditions: list[dict[str, Any]] | None) -> str:
    """status.state for the printer column."""
    done = terminal(conditions)
    if done:
        return done
    if is_true(conditions, c.RUNNING):
        return c.STATE_RUNNING
    spec = find(conditions, c.SPEC_VALID)
    if spec and spec.get("status") == c.FALSE:
        return c.STATE_FAILED
    return c.STATE_PENDING
