"""Publishing a step's plan and waiting for it: the one rule both backends
follow, between planning (``pjob.engine.step.plan_once``) and the agents'
first claim.

The rule: the agents of a run start work only after the plan of THIS run is
published. The publisher (the local driver; node 0 of a cluster job)
withdraws what an earlier run published before this run's agents start
(``withdraw``), and publishes only once the manifest is written and the
queue is prepared (``publish``: it takes the plan ``plan_once`` returned and
prepares the queue itself, then publishes). A waiter (an agent) polls the
board until the plan is published, or until its stop condition holds
(``wait``: the local driver went away; on a cluster SIGTERM, which raises
``SystemExit`` out of the wait).

A backend only provides the storage, a ``PlanBoard``: locally the ready file
beside the SQLite queue (``pjob.local.launch.ReadyFile``); on a cluster the
plan size in the job's queue ConfigMap (``pjob.kube.agent_cmd.QueuePlanBoard``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from pjob.engine.step import Plan

Queue = TypeVar("Queue")


class PlanBoard(Protocol):
    """Where one run's plan is published: storage only, no ordering."""

    def withdraw(self) -> None:
        """Forget what an earlier run published (nothing when the board is the run's own)."""
        ...

    def publish(self, plan: Plan) -> None:
        """Say the plan is there."""
        ...

    def published(self) -> bool:
        """Whether a plan is published."""
        ...


def never_stop(seconds: float) -> bool:
    """The stop condition of a waiter stopped by a signal only: sleeps, never holds.
    (A pod's SIGTERM raises ``SystemExit`` out of the sleep: the wait ends with it.)"""
    time.sleep(seconds)
    return False


def withdraw(board: PlanBoard) -> None:
    """Before this run's agents start: an earlier run's publication must not
    let them start on a queue this run has not prepared yet (a resumed run)."""
    board.withdraw()


def publish(board: PlanBoard, plan: Plan, prepare_queue: Callable[[Plan], Queue]) -> Queue:
    """After planning (``plan``: the manifest is written): prepare the queue,
    then publish; returns the prepared queue. Nothing is published when
    preparing fails."""
    queue = prepare_queue(plan)
    board.publish(plan)
    return queue


def wait(board: PlanBoard, *, poll_seconds: float, stop: Callable[[float], bool] = never_stop) -> bool:
    """Until the plan is published (True) or ``stop`` holds (False).
    ``stop(seconds)`` waits at most ``seconds`` for the waiter's stop
    condition and says whether it holds; it is the poll interval's pause."""
    while not board.published():
        if stop(poll_seconds):
            return False
    return True
