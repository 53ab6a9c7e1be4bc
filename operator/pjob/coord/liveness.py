"""Is an agent process still alive? Used by ``pjob.coord.sqlite`` so that the
leases of an agent killed with ``kill -9`` go back to pending at once instead
of after ``lease_seconds``. A process is identified by (host, pid, start time)
so a recycled pid is not mistaken for the old agent.

``psutil`` is imported only where it is needed (~8 ms, on the way to the first
run() otherwise): an agent's own start time is read from ``/proc`` on Linux,
as psutil computes it (tests/unit/coord checks they agree).
"""

from __future__ import annotations

import functools
import os
import socket


@functools.lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def this_process() -> tuple[str, int, float]:
    """(host, pid, start time) of the calling process."""
    return _host(), os.getpid(), _start_time(os.getpid())


def proc_start_time(pid: int) -> float | None:
    """``psutil.Process(pid).create_time()`` from ``/proc`` (Linux: clock ticks
    since boot, field 22 of ``/proc/<pid>/stat``, plus the boot time); None
    when ``/proc`` cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open("/proc/stat", "rb") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith(b"btime"))
        return float(stat[stat.rfind(b")") + 2 :].split()[19]) / os.sysconf("SC_CLK_TCK") + boot
    except (OSError, ValueError, IndexError, StopIteration):
        return None


class _Unknown(Exception):
    """psutil could not tell (not cached: asked again next time)."""


@functools.lru_cache(maxsize=64)
def _start_time_cached(pid: int) -> float:
    started = proc_start_time(pid)
    if started is not None:
        return started
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error as e:
        raise _Unknown from e


def _start_time(pid: int) -> float:
    try:
        return _start_time_cached(pid)
    except _Unknown:
        return 0.0


def is_gone(host: str | None, pid: int | None, started: float | None) -> bool:
    """True only when we can tell for sure: same host and the process is dead
    (or the pid now belongs to a process started at another time). Zombies
    (exited, not yet reaped) count as gone."""
    if host != _host() or not pid:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return started is not None and started > 0 and abs(proc.create_time() - started) > 0.5
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
