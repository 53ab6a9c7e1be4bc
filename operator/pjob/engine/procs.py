"""Starting processes: the one place pjob forks or spawns a child
(``start_process``), for the agent's workers (``start``, called by
``pjob.engine.slots``) and for the local driver's agents
(``pjob.local.launch``). On POSIX the agent forks: a worker is ready in
milliseconds, with pjob already imported (a fresh interpreter per worker
costs a few hundred milliseconds on a loaded machine, once per worker and
again after every timeout); the agent is single-threaded, which is what makes
forking it safe. The driver forks its agents only when ``fork_is_safe``.
Otherwise the child is spawned (``python -m pjob.engine.worker``,
``python -m pjob.local.launch``). Both give a ``subprocess.Popen``-like
handle (``pid``, ``poll``, ``wait``, ``kill``). Also here: stopping what an
entry script left running (subreaper, ``kill_tree``, ``stop_strays``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, Union

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
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def kill_tree(proc: Process) -> None:
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


def _each(processes: Iterable[Any], action: str) -> None:
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
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return self.returncode if self.returncode is not None else -1

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


Process = Union[ForkedProcess, "subprocess.Popen[bytes]"]  # what start_process returns


# --- fork or spawn: the one place a pjob process starts another -----------------------------
# Modules that make a process unsafe (native threads, GPU contexts) or heavy to fork from.
_FORK_UNSAFE = ("numpy", "pandas", "pyarrow", "torch", "tensorflow", "jax", "cupy", "grpc")


def fork_is_safe() -> bool:
    """Whether this process may fork a child that goes on running Python: a
    plain process (the ``pjob`` CLI, an agent) with one thread and none of the
    libraries that start native threads or GPU contexts. A notebook or SDK
    caller gets a freshly spawned process instead. ``PJOB_AGENT_START=spawn|fork`` overrides."""
    choice = os.environ.get("PJOB_AGENT_START", "auto")
    if choice != "auto":
        return choice == "fork" and CAN_FORK
    return CAN_FORK and threading.active_count() == 1 and not any(name in sys.modules for name in _FORK_UNSAFE)


def start_process(
    argv: list[str],
    run: Callable[[], int],
    *,
    fork: bool,
    stdout_path: str,
    stderr_path: str | None = None,
    keep: Sequence[int] = (),
    stdin: int = subprocess.DEVNULL,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
) -> Process:
    """Start a child process: forked, it runs ``run()`` and exits with its
    code; spawned, it runs ``argv``, the same program from a fresh
    interpreter. Either way its stdout (and stderr, or into stdout when
    ``stderr_path`` is None) are appended to the files, ``keep`` are the
    only other descriptors it has, ``cwd``/``env`` are its own (None: this
    process's), and ``stdin`` is ``/dev/null`` (spawned: or ``subprocess.PIPE``)."""
    if not fork:
        with contextlib.ExitStack() as files:
            out = files.enter_context(open(stdout_path, "ab"))
            err = files.enter_context(open(stderr_path, "ab")) if stderr_path else subprocess.STDOUT
            return subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=out, stderr=err, pass_fds=tuple(keep))
    out_fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    err_fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if stderr_path else out_fd
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(out_fd)
        if err_fd != out_fd:
            os.close(err_fd)
        return ForkedProcess(pid)
    _forked(run, out_fd, err_fd, keep, cwd, env)


def _forked(
    run: Callable[[], int], out_fd: int, err_fd: int, keep: Sequence[int], cwd: str | None, env: dict[str, str] | None
) -> NoReturn:
    """The forked child: stdio, descriptors, folder and environment as a spawned one would have them, then ``run()``."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        # keep only stdio and ``keep``: an inherited copy of another child's pipe
        # (a worker's, the driver's control pipe of another agent) would hide its EOF
        low = 3
        for fd in sorted(set(keep)):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 16)
        if cwd is not None:
            os.chdir(cwd)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
        code = run()
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


def start(
    task: Any,
    task_file: str,
    node: str,
    slot: int,
    cmd_r: int,
    res_w: int,
    cwd: str,
    env: dict[str, str],
    stdout_path: str,
    stderr_path: str,
) -> Process:
    """Start worker ``slot``; the caller closes its copies of ``cmd_r``/``res_w``.
    A step with its own interpreter (``task.python``) is always spawned with it."""
    python = getattr(task, "python", None)
    if python:
        from pjob.engine import interpreter

        env = interpreter.worker_env(env, interpreter.shim_dir(task.work_dir))
    argv = [python or sys.executable, "-m", "pjob.engine.worker", "--task", task_file, "--node", node]
    argv += ["--slot", str(slot), "--cmd-fd", str(cmd_r), "--res-fd", str(res_w)]
    return start_process(
        argv,
        lambda: _worker(task, node, slot, cmd_r, res_w),
        fork=CAN_FORK and not python,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        keep=(cmd_r, res_w),
        cwd=cwd,
        env=env,
    )


def _worker(task: Any, node: str, slot: int, cmd_r: int, res_w: int) -> int:
    """A forked worker: what ``python -m pjob.engine.worker`` would do, minus the interpreter start."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in any Python process: EPIPE raises instead
    # Ctrl-C reaches the whole process group: the driver stops the agents, which
    # stop the workers in order (leases handed back, no attempt burnt)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    atexit._clear()
    from pjob.engine import worker

    code = worker.run_worker(task, node, slot, cmd_r, res_w)
    atexit._run_exitfuncs()
    return int(code)
