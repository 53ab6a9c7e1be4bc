"""The driver's wait between looks at a step (``launch.sleep_until_one_exits``):
an agent's exit ends it at once, so the end of a step is seen when it
happens; an agent already reaped never makes it return early (no busy loop)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
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
