"""Driver and agents wake each other instead of waiting out a poll.
The driver's wait between looks at a step (``launch.sleep_until_one_exits``):
an agent's exit ends it at once, so the end of a step is seen when it
happens; an agent already reaped never makes it return early (no busy loop).
An agent waiting for the plan (``launch.connect_when_ready``'s wait) is woken
by the driver's ``notify`` when it publishes, not at its next poll."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from pjob.engine import plan_board, step
from pjob.local import launch


def _agent(seconds: float) -> launch.AgentProcess:
    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
    return launch.AgentProcess(proc, None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pidfds are Linux's")
def test_an_agent_exit_ends_the_wait():
    quick, slow = _agent(0.2), _agent(30)
    try:
        started = time.monotonic()
        launch.sleep_until_one_exits([slow, quick], 20.0)
        assert time.monotonic() - started < 10.0  # woken by the exit, not by the 20 s timeout
        assert quick.proc.wait(5) == 0
    finally:
        slow.kill()
        slow.wait()


def test_a_reaped_agent_does_not_end_the_wait():
    done = _agent(0)
    done.proc.wait()
    assert done.poll() == 0  # reaped: its pidfd (if any) is closed, not left readable
    started = time.monotonic()
    launch.sleep_until_one_exits([done], 0.3)
    assert time.monotonic() - started >= 0.25


def test_publishing_wakes_an_agent_waiting_for_the_plan(tmp_path):
    board = launch.ReadyFile(str(tmp_path))
    control_r, control_w = os.pipe()
    driver_side = launch.AgentProcess(subprocess.Popen([sys.executable, "-c", "pass"]), control_w)
    woke: list[float] = []

    def agent() -> None:  # as connect_when_ready waits, with a poll too long to end this test
        if plan_board.wait(board, poll_seconds=30.0, stop=lambda s: launch.driver_gone(control_r, s)):
            woke.append(time.monotonic())

    waiter = threading.Thread(target=agent, daemon=True)
    waiter.start()
    time.sleep(0.2)
    assert not woke  # nothing published yet
    published = time.monotonic()
    board.publish(step.Plan(1, [1]))
    driver_side.notify()
    waiter.join(20.0)
    assert woke and woke[0] - published < 10.0  # woken by the notify, not by the 30 s poll
    driver_side.close_control()
    os.close(control_r)
    driver_side.wait()
