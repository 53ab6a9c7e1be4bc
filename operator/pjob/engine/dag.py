"""Which steps of a pipeline start next, which never run and why, and the
pipeline's own state: ONE pure policy over the steps' states, for both places
a pipeline runs. ``pjob run`` (``pjob.local.pipeline_run``) starts the first
step of ``Next.start`` and asks again once it finished; the operator
(``pjob.kube.reconcile_pipeline``) creates a child for every step of
``Next.start`` on each reconcile. Either way a user reads the same reasons.

The rules, for a step that has not started (``Pending``):

- a step it reads from (``deps``) Failed or was Skipped: it is Skipped
  (``MSG_UPSTREAM``, naming that step);
- else, when a step Failed and ``continue_on_step_failure`` is off: it is
  Skipped (``MSG_STOPPED``); steps already running finish first;
- else, once every step it reads from Succeeded: it starts.

The pipeline is ``Running`` while a step runs, then ``Failed`` when a step
failed, ``Succeeded`` when every step succeeded. Table tests:
``tests/unit/engine/test_dag.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED = "Pending", "Running", "Succeeded", "Failed", "Skipped"

MSG_UPSTREAM = "step {step} it reads did not succeed"
MSG_STOPPED = "an earlier step failed"


@dataclasses.dataclass(frozen=True)
class Next:
    """What to do now: steps to start (run order), steps to skip (step -> why),
    the pipeline's state once that is done, and its first failed step."""

    start: list[str]
    skip: dict[str, str]
    state: str  # Pending | Running | Succeeded | Failed
    failed: str | None = None

    def states(self, before: Mapping[str, str]) -> dict[str, str]:
        """Every step's state once the whole decision is applied: every step of
        ``start`` Running (the operator). A runner that starts only the first
        (``pjob run``) applies ``skip`` alone and asks again after that step."""
        after = dict(before)
        after.update({name: SKIPPED for name in self.skip})
        after.update({name: RUNNING for name in self.start})
        return after


def next_steps(states: Mapping[str, str], deps: Mapping[str, Sequence[str]], continue_on_step_failure: bool) -> Next:
    """The decision over ``states`` (step -> state, in run order: a step comes
    after every step it reads from) and ``deps`` (step -> steps it reads from;
    a name not in ``states`` is ignored)."""
    failed = next((name for name, state in states.items() if state == FAILED), None)
    stop = failed is not None and not continue_on_step_failure
    now = dict(states)
    start: list[str] = []
    skip: dict[str, str] = {}
    for name, state in states.items():
        if state != PENDING:
            continue
        upstream = [d for d in deps.get(name, ()) if d in now]
        blocked = next((d for d in upstream if now[d] in (FAILED, SKIPPED)), None)
        if blocked is not None:
            skip[name] = MSG_UPSTREAM.format(step=blocked)
        elif stop:
            skip[name] = MSG_STOPPED
        elif all(now[d] == SUCCEEDED for d in upstream):
            start.append(name)
            now[name] = RUNNING
            continue
        else:
            continue
        now[name] = SKIPPED
    return Next(start, skip, _pipeline_state(now.values(), failed), failed)


def _pipeline_state(states: Iterable[str], failed: str | None) -> str:
    values = list(states)
    if RUNNING in values:
        return RUNNING
    if failed is not None:
        return FAILED
    if all(state == SUCCEEDED for state in values):
        return SUCCEEDED
    return PENDING
