"""Local agent processes of one parallel step. ``start`` forks an agent from
the driver (``pjob.local.parallel_step``) when that is safe, else spawns
``python -m pjob.local.launch --task <work_dir>/task.json --node <i>
--agent-id <id>`` (the choice and the start: ``pjob.engine.procs``). Either
way the agent opens the step's SQLite queue once the driver has published
the plan of this run (the rule: ``pjob.engine.plan_board``; its board here:
``ReadyFile``) and runs ``pjob.engine.agent.Agent`` over it. Its control
channel is a pipe from the driver: EOF means stop (the driver finished,
failed fast, or died).
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time

from pjob.coord.sqlite import SqliteCoordinator
from pjob.engine import agent, plan_board, procs, step
from pjob.engine.task import ParallelTask

QUEUE_FILE = "queue.db"
READY_FILE = "queue.ready"  # created by the driver once the queue is prepared for this run
LEASE_SECONDS = 30.0
READY_POLL_SECONDS = 0.05  # the driver also wakes waiting agents when it publishes (AgentProcess.notify)


class ReadyFile:
    """The local ``engine.plan_board.PlanBoard``: ``queue.ready`` (empty)
    beside the SQLite queue in the step's work folder."""

    def __init__(self, work_dir: str):
        self.path = os.path.join(work_dir, READY_FILE)

    def withdraw(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)

    def publish(self, plan: step.Plan) -> None:
        open(self.path, "w").close()

    def published(self) -> bool:
        return os.path.exists(self.path)


def driver_gone(control_fd: int, seconds: float) -> bool:
    """Wait at most ``seconds`` on the control pipe: True at EOF (the driver
    closed it or died); a byte there (``AgentProcess.notify``) ends the wait early."""
    readable, _, _ = select.select([control_fd], [], [], seconds)
    return bool(readable) and not os.read(control_fd, 4096)


def connect_when_ready(task, control_fd: int):
    """Wait for the driver to publish the plan of this run (the queue is
    prepared: ``engine.plan_board``), then open the queue; None when the
    driver goes away meanwhile."""
    board = ReadyFile(task.work_dir)
    if not plan_board.wait(board, poll_seconds=READY_POLL_SECONDS, stop=lambda s: driver_gone(control_fd, s)):
        return None
    return SqliteCoordinator(
        os.path.join(task.work_dir, QUEUE_FILE),
        None,
        max_attempts=1 + max(0, task.max_retries),
        lease_seconds=LEASE_SECONDS,
    )


def run_agent(task, node: int, agent_id: str, control_fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the driver, which stops us in order
    # the agent closes the queue it connects
    return agent.Agent(task, node, lambda: connect_when_ready(task, control_fd), agent_id, control_fd=control_fd).run()


class AgentProcess:
    """The driver's handle on one agent: pid, poll/wait/kill, close_control."""

    def __init__(self, proc, control_w: int | None):
        self.proc = proc
        self.pid = proc.pid
        self._control_w = control_w
        self._exit_fd: int | None = None  # a pidfd: readable once the agent has exited (Linux)

    def poll(self):
        code = self.proc.poll()
        if code is not None:
            self._close_exit_fd()
        return code

    def exit_fd(self) -> int | None:
        """A descriptor that turns readable when this agent exits (a pidfd), or
        None where there are none (not Linux) or it has already been reaped."""
        if self._exit_fd is None:
            try:
                self._exit_fd = os.pidfd_open(self.pid)
            except (AttributeError, OSError):  # no pidfds here, or the agent is gone and reaped
                self._exit_fd = -1
        return self._exit_fd if self._exit_fd >= 0 else None

    def _close_exit_fd(self) -> None:
        if self._exit_fd is not None and self._exit_fd >= 0:
            os.close(self._exit_fd)
        self._exit_fd = -1

    def wait(self, timeout=None):
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()

    def notify(self) -> None:
        """Wake the agent if it waits for the plan (``connect_when_ready``): a
        byte on its control channel (only EOF there means stop)."""
        try:
            if self._control_w is not None:
                os.write(self._control_w, b"\n")
            elif getattr(self.proc, "stdin", None) and not self.proc.stdin.closed:
                self.proc.stdin.write(b"\n")
                self.proc.stdin.flush()
        except OSError:  # it has exited: the driver sees that when it looks
            pass

    def close_control(self) -> None:
        self._close_exit_fd()  # the driver waits for this agent to exit from now on, not for an event
        if self._control_w is not None:
            try:
                os.close(self._control_w)
            except OSError:
                pass
            self._control_w = None
        elif getattr(self.proc, "stdin", None) and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass


def sleep_until_one_exits(agents, seconds: float) -> None:
    """Sleep at most ``seconds``, woken at once when one of the running
    ``agents`` exits (the end of a step is seen when it happens, not at the
    next poll); a plain sleep where no agent can be waited on this way."""
    fds = [fd for a in agents if a.poll() is None and (fd := a.exit_fd()) is not None]
    if fds:
        select.select(fds, [], [], seconds)
    else:
        time.sleep(seconds)


def start(task, node: int, agent_id: str, log_path: str) -> AgentProcess:
    """Start one agent (``engine.procs.start_process``: forked when
    ``procs.fork_is_safe``, else spawned); its stdout/stderr go to ``log_path``.
    Its control channel: a pipe when forked, its stdin when spawned."""
    fork = procs.fork_is_safe()
    control_r, control_w = os.pipe() if fork else (0, None)
    argv = [sys.executable, "-m", "pjob.local.launch", "--task", os.path.join(task.work_dir, "task.json")]
    argv += ["--node", str(node), "--agent-id", agent_id]
    proc = procs.start_process(
        argv,
        lambda: run_agent(task, node, agent_id, control_r),
        fork=fork,
        stdout_path=log_path,
        keep=(control_r,) if fork else (),
        stdin=subprocess.PIPE,
    )
    if control_w is not None:
        os.close(control_r)
        os.set_inheritable(control_w, False)
    return AgentProcess(proc, control_w)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pjob-local-agent")
    parser.add_argument("--task", required=True)
    parser.add_argument("--node", type=int, required=True)
    parser.add_argument("--agent-id", required=True)
    args = parser.parse_args(argv)
    with open(args.task, encoding="utf-8") as f:
        task = ParallelTask.from_json(f.read())
    return run_agent(task, args.node, args.agent_id, 0)


if __name__ == "__main__":
    sys.exit(main())
