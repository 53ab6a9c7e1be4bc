"""One worker process as the agent sees it: its pipes, its queue of leases
(head = the mini-batch it is working on), the phase of the head (``load`` or
``run``) and when it started. Start/stop go through ``pjob.engine.procs``.
Used by ``pjob.engine.agent`` only.
"""

from __future__ import annotations

import collections
import os
import subprocess

from pjob.engine import logtree, procs
from pjob.engine.task import ParallelTask
from pjob.queue import protocol


class WorkerSlot:
    def __init__(self, slot: int):
        self.slot = slot
        self.proc = logtree.process_name(slot)
        self.popen: procs.Process | None = None
        self.cmd_fd = -1  # agent -> worker
        self.res_fd = -1  # worker -> agent
        self.buf = b""
        self.ready = False  # init() done
        self.queue: collections.deque[protocol.Lease] = collections.deque()  # leases sent, head = running
        self.phase = "load"
        self.phase_started = 0.0
        self.started_wall = 0.0
        self.loaded_items: int | None = None  # items of the head once its worker read them ("S")

    def start(self, task: ParallelTask, task_file: str, node: str, logs: logtree.LogTree, env: dict[str, str]) -> None:
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        for fd in (cmd_w, res_r):  # the agent's ends never leak into other workers
            os.set_inheritable(fd, False)
        wd = os.path.join(task.work_dir, "tmp", node, self.proc)
        os.makedirs(wd, exist_ok=True)
        self.popen = procs.start(
            task,
            task_file,
            node,
            self.slot,
            cmd_r,
            res_w,
            wd,
            env,
            logs.user_stdout(node, self.proc),
            logs.user_stderr(node, self.proc),
        )
        os.close(cmd_r)
        os.close(res_w)
        self.cmd_fd, self.res_fd, self.buf, self.ready = cmd_w, res_r, b"", False

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.cmd_fd, view) :]

    def kill(self) -> None:
        """SIGKILL the worker and whatever it started (``procs.kill_tree``)."""
        if self.popen is not None and self.popen.poll() is None:
            procs.kill_tree(self.popen)

    def close(self) -> None:
        """Close the pipes and reap the process (killing it if it lingers)."""
        for fd in (self.res_fd, self.cmd_fd):
            if fd >= 0:
                os.close(fd)
        self.res_fd = self.cmd_fd = -1
        if self.popen is not None:
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.ready = False
