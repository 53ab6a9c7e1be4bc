"""Starting worker processes from the agent. On POSIX the agent forks: a worker
is ready in milliseconds, with pjob already imported (a fresh interpreter per
worker costs a few hundred milliseconds on a loaded machine, once per worker
and again after every timeout). Elsewhere it spawns ``python -m
pjob.engine.worker``. Both give a ``subprocess.Popen``-like handle
(``pid``, ``poll``, ``wait``, ``kill``). Called by ``pjob.engine.agent``; the
agent is single-threaded, which is what makes forking it safe.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
import traceback

CAN_FORK = hasattr(os, "fork") and os.environ.get("PJOB_WORKER_START", "fork") == "fork"
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
STRAY_GRACE = 2.0  # seconds a leftover process gets between SIGTERM and SIGKILL


# --- processes an entry script started ---------------------------------------------------
# A worker killed at its timeout must not leave its own children running, and
# nothing an entry script started may outlive the agent. The agent is made a
# "child subreaper" (Linux): what a dead worker leaves behind is re-parented to
# the agent instead of init, so the agent can find it and stop it.


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_tree(proc) -> None:
    """SIGKILL ``proc`` (a Popen-like handle) and every process below it."""
    import psutil

    try:
        below = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
    except psutil.Error:
        below = []
    proc.kill()
    _each(below, "kill")


def stop_strays() -> list[int]:
    """Stop every child of this process (called by the agent once its workers
    are gone: what is left was adopted by the subreaper) with SIGTERM, then
    SIGKILL after ``STRAY_GRACE`` seconds, and reap them. Returns their pids."""
    import psutil

    try:
        strays = psutil.Process().children()
    except psutil.Error:
        return []
    _each(strays, "terminate")
    _, alive = psutil.wait_procs(strays, timeout=STRAY_GRACE)
    _each(alive, "kill")
    psutil.wait_procs(alive, timeout=STRAY_GRACE)
    return [c.pid for c in strays]


def _each(processes, action: str) -> None:
    """Call ``action`` ("kill"/"terminate") on each psutil process; one already gone is fine."""
    import psutil

    for proc in processes:
        try:
            getattr(proc, action)()
        except psutil.Error:
            pass


class ForkedProcess:
    """The subset of ``subprocess.Popen`` the agent uses, for a forked child."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start(
    task,
    task_file: str,
    node: str,
    slot: int,
    cmd_r: int,
    res_w: int,
    cwd: str,
    env: dict[str, str],
    stdout_path: str,
    stderr_path: str,
):
    """Start worker ``slot``; the caller closes its copies of ``cmd_r``/``res_w``.
    A step with its own interpreter (``task.python``) is always spawned with it."""
    python = getattr(task, "python", None)
    if python:
        from pjob.engine import interpreter

        env = interpreter.worker_env(env, interpreter.shim_dir(task.work_dir))
    if python or not CAN_FORK:
        with open(stdout_path, "ab") as out, open(stderr_path, "ab") as err:
            return subprocess.Popen(
                [
                    python or sys.executable,
                    "-m",
                    "pjob.engine.worker",
                    "--task",
                    task_file,
                    "--node",
                    node,
                    "--slot",
                    str(slot),
                    "--cmd-fd",
                    str(cmd_r),
                    "--res-fd",
                    str(res_w),
                ],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                pass_fds=(cmd_r, res_w),
            )
    out_fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    err_fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(out_fd)
        os.close(err_fd)
        return ForkedProcess(pid)
    _child(task, node, slot, cmd_r, res_w, cwd, env, out_fd, err_fd)  # never returns


def _child(task, node, slot, cmd_r, res_w, cwd, env, out_fd, err_fd) -> None:
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in any Python process: EPIPE raises instead
        # Ctrl-C reaches the whole process group: the driver stops the agents, which
        # stop the workers in order (leases handed back, no attempt burnt)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # keep only stdio and our two pipes: an inherited copy of another
        # worker's pipe would hide that worker's EOF when the agent dies
        keep = sorted({cmd_r, res_w})
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 16)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
        atexit._clear()
        from pjob.engine import worker

        code = worker.run_worker(task, node, slot, cmd_r, res_w)
        atexit._run_exitfuncs()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
