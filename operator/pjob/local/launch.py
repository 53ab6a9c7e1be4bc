"""Local agent processes of one parallel step. ``start`` forks an agent from
the driver (``pjob.local.parallel_step``) when the driver is single-threaded, else
spawns ``python -m pjob.local.launch --task <work_dir>/task.json --node <i>
--agent-id <id>``. Either way the agent opens the step's SQLite queue once the
driver has prepared it and runs ``pjob.engine.agent.Agent`` over it. Its
control channel is a pipe from the driver: EOF means stop (the driver
finished, failed fast, or died).
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import threading
import traceback

from pjob.coord import base
from pjob.coord.sqlite import SqliteCoordinator
from pjob.engine import agent, procs
from pjob.engine.task import ParallelTask

QUEUE_FILE = "queue.db"
READY_FILE = "queue.ready"  # written by the driver once the queue is prepared for this run
LEASE_SECONDS = 30.0


def connect_when_ready(task, control_fd: int):
    """Wait for the driver to finish planning/preparing the queue (its ready
    file), then open the queue; None when the driver goes away meanwhile."""
    ready = os.path.join(task.work_dir, READY_FILE)
    while not os.path.exists(ready):
        readable, _, _ = select.select([control_fd], [], [], 0.01)
        if readable and not os.read(control_fd, 4096):
            return None
    return SqliteCoordinator(
        os.path.join(task.work_dir, QUEUE_FILE),
        None,
        max_attempts=1 + max(0, task.max_retries),
        lease_seconds=LEASE_SECONDS,
    )


def run_agent(task, node: int, agent_id: str, control_fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the driver, which stops us in order
    runner = agent.Agent(
        task, node, lambda: connect_when_ready(task, control_fd), base.Outcome, agent_id, control_fd=control_fd
    )
    try:
        return runner.run()
    finally:
        if hasattr(runner.coord, "close"):
            runner.coord.close()


class AgentProcess:
    """The driver's handle on one agent: pid, poll/wait/kill, close_control."""

    def __init__(self, proc, control_w: int | None):
        self.proc = proc
        self.pid = proc.pid
        self._control_w = control_w

    def poll(self):
        return self.proc.poll()

    def wait(self, timeout=None):
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()

    def close_control(self) -> None:
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


# Modules that make a process unsafe (native threads, GPU contexts) or heavy to fork from.
_FORK_UNSAFE = ("numpy", "pandas", "pyarrow", "torch", "tensorflow", "jax", "cupy", "grpc")


def fork_is_safe() -> bool:
    """Fork the agent from the driver only when the driver is a plain process
    (the ``pjob`` CLI): one thread and none of the libraries that start
    native threads or GPU contexts. A notebook or SDK caller gets a freshly
    spawned agent instead. ``PJOB_AGENT_START=spawn|fork`` overrides."""
    choice = os.environ.get("PJOB_AGENT_START", "auto")
    if choice != "auto":
        return choice == "fork" and procs.CAN_FORK
    return procs.CAN_FORK and threading.active_count() == 1 and not any(name in sys.modules for name in _FORK_UNSAFE)


def start(task, node: int, agent_id: str, log_path: str) -> AgentProcess:
    """Start one agent; its stdout/stderr go to ``log_path``."""
    if not fork_is_safe():
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pjob.local.launch",
                    "--task",
                    os.path.join(task.work_dir, "task.json"),
                    "--node",
                    str(node),
                    "--agent-id",
                    agent_id,
                ],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return AgentProcess(proc, None)
    control_r, control_w = os.pipe()
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(control_r)
        os.close(log_fd)
        os.set_inheritable(control_w, False)
        return AgentProcess(procs.ForkedProcess(pid), control_w)
    code = 1
    try:  # the forked agent: keep stdio + the control pipe, drop the driver's files and locks
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.closerange(3, control_r)
        os.closerange(control_r + 1, 1 << 16)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = run_agent(task, node, agent_id, control_r)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


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
