"""engine.plan_board: the one rule for publishing a step's plan and waiting
for it, table-driven over a fake board; then the two real boards (the local
ready file, the cluster's plan size in the queue) keep the same contract,
and the local driver withdraws a resumed run's stale publication before its
agents start and publishes only after the queue is prepared."""

from __future__ import annotations

import dataclasses
import os

import pytest
from folder_task import folder_task
from pjob.engine import plan_board
from pjob.engine.step import Plan
from pjob.engine.task import ParallelTask
from pjob.kube.agent_cmd import QueuePlanBoard
from pjob.local import launch, parallel_step

PLAN = Plan(3, [2, 2, 1])


class FakeBoard:
    """Published after ``polls`` calls of ``published()`` (None: never); records what happens."""

    def __init__(self, polls: int | None = 0):
        self.polls, self.calls = polls, 0
        self.events: list[str] = []
        self.plan: Plan | None = None

    def withdraw(self) -> None:
        self.events.append("withdraw")

    def publish(self, plan: Plan) -> None:
        self.events.append("publish")
        self.plan = plan

    def published(self) -> bool:
        self.calls += 1
        assert self.calls < 1000, "still polling: the stop condition was not heeded"
        return self.plan is not None or (self.polls is not None and self.calls > self.polls)


# name, polls until published (None: never), stop holds at its n-th call (None: never),
# wait's answer, stop calls
WAITS = [
    ("already published: no pause", 0, None, True, 0),
    ("published after 3 polls", 3, None, True, 3),
    ("published at the poll where stop would hold next", 2, 3, True, 2),
    ("stop holds first: the waiter gives up", None, 2, False, 2),
    ("stop holds at once", None, 1, False, 1),
    ("stop holds after a long wait", None, 50, False, 50),
]


@pytest.mark.parametrize("name,polls,stop_at,answer,stops", WAITS, ids=[w[0] for w in WAITS])
def test_wait_until_published_or_stopped(name, polls, stop_at, answer, stops):
    board = FakeBoard(polls)
    pauses: list[float] = []

    def stop(seconds: float) -> bool:
        pauses.append(seconds)
        return stop_at is not None and len(pauses) >= stop_at

    assert plan_board.wait(board, poll_seconds=0.25, stop=stop) is answer
    assert pauses == [0.25] * stops  # every pause is one poll interval, and no pause once published
    assert board.calls == stops + (1 if answer else 0)  # no poll after the stop condition held


def test_never_stop_sleeps_the_poll_interval_and_never_holds(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(plan_board.time, "sleep", slept.append)
    assert plan_board.never_stop(0.5) is False and slept == [0.5]


def test_a_signal_raised_out_of_the_pause_ends_the_wait():
    """The cluster's stop: SIGTERM raises SystemExit(143) out of the sleep."""

    def sigterm(seconds: float) -> bool:
        raise SystemExit(143)

    board = FakeBoard(None)
    with pytest.raises(SystemExit):
        plan_board.wait(board, poll_seconds=0.5, stop=sigterm)
    assert board.calls == 1


def test_publish_prepares_the_queue_first_then_publishes_and_returns_the_queue():
    board = FakeBoard(None)

    def prepare(plan: Plan) -> str:
        board.events.append("prepare")
        assert plan is PLAN
        return "queue"

    assert plan_board.publish(board, PLAN, prepare) == "queue"
    assert board.events == ["prepare", "publish"] and board.plan is PLAN


def test_nothing_is_published_when_preparing_the_queue_fails():
    board = FakeBoard(None)

    def prepare(plan: Plan) -> str:
        raise OSError("no space left on device")

    with pytest.raises(OSError):
        plan_board.publish(board, PLAN, prepare)
    assert board.events == [] and not board.published()


def test_withdraw_asks_the_board():
    board = FakeBoard(None)
    plan_board.withdraw(board)
    assert board.events == ["withdraw"]


class FakeKubeCoordinator:
    """The two calls of ``KubeCoordinator`` the cluster board uses."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.items: list[int] | None = None

    def load_plan(self, total: int, items: list[int] | None = None) -> None:
        self.total, self.items = total, items if items is not None else self.items

    def plan_size(self) -> int | None:
        return self.total


def ready_file(tmp_path):
    return launch.ReadyFile(str(tmp_path)), lambda: os.path.exists(tmp_path / launch.READY_FILE)


def queue_plan_size(tmp_path):
    coordinator = FakeKubeCoordinator()
    return QueuePlanBoard(coordinator), lambda: coordinator.total == PLAN.count and coordinator.items == PLAN.items


@pytest.mark.parametrize("make", [ready_file, queue_plan_size], ids=["local ready file", "kube plan size"])
def test_each_backend_stores_the_publication(tmp_path, make):
    board, stored = make(tmp_path)
    assert not board.published() and not stored()
    board.withdraw()  # nothing to withdraw: no error
    assert plan_board.wait(board, poll_seconds=0.001, stop=lambda s: True) is False
    plan_board.publish(board, PLAN, lambda plan: None)
    assert board.published() and stored()
    assert plan_board.wait(board, poll_seconds=0.001, stop=lambda s: True) is True


def test_the_ready_file_of_an_earlier_run_is_withdrawn(tmp_path):
    board, stored = ready_file(tmp_path)
    (tmp_path / launch.READY_FILE).touch()  # a killed run's
    assert board.published()
    plan_board.withdraw(board)
    assert not board.published() and not stored()


def test_a_local_agent_stops_waiting_when_the_driver_goes_away(tmp_path):
    task = make_task(tmp_path)
    os.makedirs(task.work_dir)
    r, w = os.pipe()
    try:
        assert launch.driver_gone(r, 0.01) is False  # driver alive, nothing said
        os.write(w, b"x")
        assert launch.driver_gone(r, 0.01) is False  # something said is no EOF
        os.close(w)
        w = -1
        assert launch.driver_gone(r, 0.01) is True
        assert launch.connect_when_ready(task, r) is None  # no plan published: not connected
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def make_task(tmp_path) -> ParallelTask:
    files = {f"d{i}.txt": "a\n" for i in range(5)}
    return folder_task(tmp_path, files, mini_batch_size="2", max_concurrency_per_instance=1, timeout=30.0)


class ExitedAgent:
    """An agent that did nothing and exited 0 (the driver then gives the step up)."""

    pid = 0

    def poll(self) -> int:
        return 0

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def kill(self) -> None:
        pass

    def close_control(self) -> None:
        pass

    def notify(self) -> None:
        pass

    def exit_fd(self) -> None:
        return None


def test_the_driver_withdraws_a_stale_plan_first_and_publishes_after_the_queue(tmp_path, monkeypatch):
    task = make_task(tmp_path)
    os.makedirs(task.work_dir)
    ready = os.path.join(task.work_dir, launch.READY_FILE)
    open(ready, "w").close()  # left by a killed run: its agents must not take it for this run's plan
    seen: list[tuple[str, bool]] = []

    def start(task, node, agent_id, log_path):
        seen.append(("agent starts", os.path.exists(ready)))
        return ExitedAgent()

    prepare = parallel_step._prepare_queue

    def prepare_queue(task, plan, retry_failed, log):
        seen.append(("queue prepared", os.path.exists(ready)))
        return prepare(task, plan, retry_failed, log)

    monkeypatch.setattr(launch, "start", start)
    monkeypatch.setattr(parallel_step, "_prepare_queue", prepare_queue)
    task = dataclasses.replace(task, instance_count=2)
    parallel_step.run_parallel_step(task)  # the agents did nothing: the step fails, which is not the point
    assert seen[-1] == ("queue prepared", False) and ("agent starts", False) in seen
    assert all(exists is False for _, exists in seen), seen
    assert os.path.exists(ready)  # published once the queue was prepared
