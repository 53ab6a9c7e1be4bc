"""The CPU and memory this process may really use, from its cgroup, and the
default number of worker processes that follows.

``os.cpu_count()`` is the node's core count: on a 64-core node a pod limited
to 1 CPU would start 64 workers. The pod's limits live in its cgroup:

- cgroup v2: ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) and
  ``memory.max`` (bytes or ``max``), in the process's cgroup folder and every
  parent up to the mount (the tightest one wins);
- cgroup v1: ``cpu.cfs_quota_us`` (``-1`` = none) / ``cpu.cfs_period_us`` and
  ``memory.limit_in_bytes`` (a huge number = none).

The parsing functions are pure (table-tested); ``read_limits`` and
``default_concurrency`` do the file reads. Used wherever a default
``max_concurrency_per_instance`` is computed (``pjob.engine.build`` for local
runs, ``pjob.kube.agent_cmd`` in worker pods).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import TypeVar

MOUNT = "/sys/fs/cgroup"
UNLIMITED_BYTES = 1 << 60  # v1 reports "no limit" as PAGE_COUNTER_MAX * page size (~2**63)
WORKER_MEMORY_BYTES = 256 << 20  # memory a worker process needs at the least: caps workers under a small limit


@dataclasses.dataclass(frozen=True)
class Limits:
    cpus: float | None = None  # CPU quota in CPUs (1.5 = 150 ms per 100 ms), None = no quota
    memory: int | None = None  # bytes, None = no limit


def parse_cpu_max(text: str | None) -> float | None:
    """cgroup v2 ``cpu.max``: ``"150000 100000"`` -> 1.5; ``"max 100000"`` -> None."""
    parts = (text or "").split()
    if not parts or parts[0] == "max":
        return None
    try:
        quota = float(parts[0])
        period = float(parts[1]) if len(parts) > 1 else 100000.0
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs(quota_text: str | None, period_text: str | None) -> float | None:
    """cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``: ``-1`` (or anything unreadable) -> None."""
    try:
        quota = float((quota_text or "").strip())
        period = float((period_text or "").strip() or 100000)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_memory(text: str | None) -> int | None:
    """v2 ``memory.max`` or v1 ``memory.limit_in_bytes``: bytes, or None for ``max`` / no limit."""
    raw = (text or "").strip()
    if not raw or raw == "max":
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 < value < UNLIMITED_BYTES else None


def cgroup_dirs(proc_self_cgroup: str | None, base: str = MOUNT, controller: str | None = None) -> list[str]:
    """The folders of this process's cgroup, leaf first, up to ``base``, from
    ``/proc/self/cgroup``: the v2 line ``0::/path`` (``controller`` None) or
    the v1 line ``N:cpu,cpuacct:/path`` naming ``controller``. Inside a
    container with its own cgroup namespace the path is ``/``: just ``base``."""
    path = "/"
    for line in (proc_self_cgroup or "").splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        if (controller is None and fields[0] == "0" and fields[1] == "") or (
            controller is not None and controller in fields[1].split(",")
        ):
            path = fields[2].strip() or "/"
            break
    parts = [p for p in path.split("/") if p and p != ".."]
    dirs = [os.path.join(base, *parts[:i]) for i in range(len(parts), 0, -1)]
    return dirs + [base]


_Limit = TypeVar("_Limit", int, float)


def tightest(values: Sequence[_Limit | None]) -> _Limit | None:
    """The smallest of the limits that are set; None when none is."""
    given = [v for v in values if v is not None]
    return min(given) if given else None


def concurrency(cpu_count: int | None, limits: Limits, worker_memory: int = WORKER_MEMORY_BYTES) -> int:
    """Default worker processes: the usable CPUs (quota rounded up, never more
    than the cores), at most one per ``worker_memory`` of the memory limit, at least 1."""
    n = max(1, int(cpu_count or 1))
    if limits.cpus is not None:
        n = min(n, max(1, math.ceil(limits.cpus - 1e-9)))
    if limits.memory is not None and worker_memory > 0:
        n = min(n, max(1, limits.memory // worker_memory))
    return n


def describe(limits: Limits) -> str:
    cpu = "no CPU quota" if limits.cpus is None else f"CPU quota {limits.cpus:g}"
    memory = "no memory limit" if limits.memory is None else f"memory limit {limits.memory / (1 << 20):.0f} MiB"
    return f"cgroup: {cpu}, {memory}"


# --- the edge: file reads ------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def read_limits(mount: str = MOUNT, proc_self_cgroup: str = "/proc/self/cgroup") -> Limits:
    """This process's CPU quota and memory limit (v2, else v1); no cgroup files -> no limits."""
    proc = _read(proc_self_cgroup)
    if os.path.exists(os.path.join(mount, "cgroup.controllers")):  # v2 (unified)
        dirs = cgroup_dirs(proc, mount)
        return Limits(
            cpus=tightest([parse_cpu_max(_read(os.path.join(d, "cpu.max"))) for d in dirs]),
            memory=tightest([parse_memory(_read(os.path.join(d, "memory.max"))) for d in dirs]),
        )
    cpus: list[float | None] = []
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        if os.path.isdir(os.path.join(mount, folder)):
            cpus = [
                parse_cfs(_read(os.path.join(d, "cpu.cfs_quota_us")), _read(os.path.join(d, "cpu.cfs_period_us")))
                for d in cgroup_dirs(proc, os.path.join(mount, folder), "cpu")
            ]
            break
    memory = [
        parse_memory(_read(os.path.join(d, "memory.limit_in_bytes")))
        for d in cgroup_dirs(proc, os.path.join(mount, "memory"), "memory")
    ]
    return Limits(cpus=tightest(cpus), memory=tightest(memory))


def usable_cpus() -> int:
    """Cores this process may be scheduled on (cpuset/affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or (os.cpu_count() or 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_concurrency() -> int:
    return concurrency(usable_cpus(), read_limits())
