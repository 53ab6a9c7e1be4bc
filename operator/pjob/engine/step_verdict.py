"""The verdict of ONE parallel step, wherever it runs: the counters' verdict
(``pjob.engine.policy.verdict``), else what its agents did (crashed for good,
stopped on purpose with a fatal error, all exited while the queue is not
final). Pure functions, no I/O: the local driver (``pjob.local.parallel_step``)
observes its agent processes, the operator (``pjob.kube.reconcile``) the
worker Job, and both ask ``step_verdict``; finalisation asks ``explained``
once the fatal error a stopped agent left is read. A user reads the same
message on a laptop and on a cluster. Table tests:
``tests/unit/engine/test_step_verdict.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pjob.engine import policy

QUEUE_REJECTED = "queue_rejected"  # rule (reason QueueRejected): the API server refused the queue for good
QUEUE_REJECTED_PREFIX = "the API server refused to"  # how pjob.coord.kube.QueueRejected's message starts
AGENT_LOGS = "logs/sys/node/*/agent.txt"

MSG_AGENTS_CRASHED = "the agents failed ({why}) before every mini-batch was final; see " + AGENT_LOGS
MSG_AGENTS_EXITED = "every agent exited but not every mini-batch is final{counts}; see " + AGENT_LOGS
MSG_AGENT_FATAL = "agent {node} stopped with a fatal error"
MSG_AGENT_RESTARTS = "agent {node} exited with code {code} {times} times"


@dataclasses.dataclass(frozen=True)
class Agents:
    """What a step's agents did, as seen from outside them."""

    crashed: str | None = None  # they failed for good (restarts used up, the worker Job failed): why
    fatal: str | None = None  # one stopped on purpose (init() kept failing, no space): its fatal error
    all_exited: bool = False  # every agent exited by itself (exit 0)


def rule_of(fatal: str) -> str:
    """The rule a fatal error trips: the queue refused, init() failed, else a system error."""
    if fatal.startswith(QUEUE_REJECTED_PREFIX):
        return QUEUE_REJECTED
    return policy.INIT_FAILURE if "init()" in fatal else policy.SYSTEM_ERROR


def explain_fatal(fatal: str) -> policy.Verdict:
    """A step failed because an agent stopped with ``fatal``: its rule and first line."""
    text = fatal.strip()
    return policy.Verdict(policy.FAILED, rule_of(text), text.splitlines()[0] if text else "")


def explained(verdict: policy.Verdict, fatal: str | None) -> policy.Verdict:
    """A step that failed as a system error while an agent left a fatal error
    (the worker Job failed because a pod exited 3 or 4) says that error instead."""
    if fatal and fatal.strip() and verdict.state == policy.FAILED and verdict.rule == policy.SYSTEM_ERROR:
        return explain_fatal(fatal)
    return verdict


def agents_crashed(why: str) -> policy.Verdict:
    return policy.Verdict(policy.FAILED, policy.SYSTEM_ERROR, MSG_AGENTS_CRASHED.format(why=why))


def agents_exited(counters: Any) -> policy.Verdict:
    """Every agent exited by itself, yet mini-batches are still pending or leased."""
    counts = "" if counters is None else f" ({counters.done + counters.failed} of {counters.total} final)"
    return policy.Verdict(policy.FAILED, policy.SYSTEM_ERROR, MSG_AGENTS_EXITED.format(counts=counts))


def step_verdict(
    counters: Any,
    limits: policy.Limits | None,
    agents: Agents,
    *,
    now: float,
    started_at: float,
    attempts_at_start: int = 0,
) -> policy.Verdict:
    """The step's verdict: the counters' (once the plan is known: ``counters``
    and ``limits`` not None) when final, else a fatal error, else crashed
    agents, else agents gone while the queue is not final; ``Running`` otherwise."""
    if counters is not None and limits is not None:
        v = policy.verdict(counters, limits, now=now, started_at=started_at, attempts_at_start=attempts_at_start)
        if v.final:
            return v
    if agents.fatal is not None:
        return explain_fatal(agents.fatal)
    if agents.crashed is not None:
        return agents_crashed(agents.crashed)
    if agents.all_exited:
        return agents_exited(counters)
    return policy.Verdict(policy.RUNNING)
