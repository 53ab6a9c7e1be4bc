"""Is an agent process still alive? Used by ``pjob.coord.sqlite`` so that the
leases of an agent killed with ``kill -9`` go back to pending at once instead
of after ``lease_seconds``. A process is identified by (host, pid, start time)
so a recycled pid is not mistaken for the old agent.
"""

from __future__ import annotations

import functools
import os
import socket

import psutil


@functools.lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def this_process() -> tuple[str, int, float]:
    """(host, pid, start time) of the calling process."""
    return _host(), os.getpid(), _start_time(os.getpid())


@functools.lru_cache(maxsize=64)
def _start_time_cached(pid: int) -> float:
    return psutil.Process(pid).create_time()


def _start_time(pid: int) -> float:
    try:
        return _start_time_cached(pid)
    except psutil.Error:
        return 0.0


def is_gone(host: str | None, pid: int | None, started: float | None) -> bool:
    """True only when we can tell for sure: same host and the process is dead
    (or the pid now belongs to a process started at another time). Zombies
    (exited, not yet reaped) count as gone."""
    if host != _host() or not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return started is not None and started > 0 and abs(proc.create_time() - started) > 0.5
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
