"""How many worker processes to really start, and whether the requested
``max_concurrency_per_instance`` fits this machine.

Pure decisions (table-tested); the agent (``pjob.engine.agent``) applies
``workers_to_start`` once it knows how many mini-batches are left, and
``pjob run`` prints ``warning`` before it starts. ``machine`` reads the
CPUs and memory at the edge.
"""

from __future__ import annotations

import math
import os

WORKER_MEMORY_BYTES = 256 << 20  # what a worker process with pandas loaded needs at the least


def early_workers(requested: int, cpus: int, instances: int = 1, planned: int | None = None) -> int:
    """Workers an agent starts before it knows how many mini-batches are
    left (their init() overlaps planning). With a plan already there (a
    resumed run, an agent started after planning): no more than it can get.
    Without: the CPUs shared by the instances that start at once, so a huge
    setting over a small input does not start thousands of processes for nothing."""
    if planned is not None:
        return workers_to_start(requested, planned, instances)
    return max(1, min(requested, cpus // max(1, min(instances, cpus))))


def workers_to_start(requested: int, mini_batches_left: int, instance_count: int) -> int:
    """Never more workers on one instance than mini-batches it can get: the
    rest would only run init() and wait."""
    per_instance = math.ceil(max(0, mini_batches_left) / max(1, instance_count))
    return max(1, min(requested, per_instance))


def warning(requested: int, cpus: int, memory_bytes: int | None) -> str | None:
    """A sentence when ``requested`` workers cannot all fit this machine's
    memory (``WORKER_MEMORY_BYTES`` each), else None."""
    if memory_bytes is None or requested <= 1:
        return None
    fits = max(1, memory_bytes // WORKER_MEMORY_BYTES)
    if requested <= fits:
        return None
    return (
        f"{requested} worker processes need about "
        f"{requested * WORKER_MEMORY_BYTES / (1 << 30):,.0f} GiB at {WORKER_MEMORY_BYTES >> 20} MiB each, but this "
        f"machine has {memory_bytes / (1 << 30):.1f} GiB and {cpus} CPU(s); pjob starts at most one worker per "
        f"mini-batch left, and at most {fits} fit here (--max-workers {min(fits, max(1, cpus * 2))} caps it)"
    )


def cpus() -> int:
    from pjob.engine import cgroup

    return cgroup.usable_cpus()


def machine() -> tuple[int, int | None]:
    """(usable CPUs, memory in bytes: the cgroup limit, else the machine's RAM)."""
    from pjob.engine import cgroup

    cpus = cgroup.usable_cpus()
    memory = cgroup.read_limits().memory
    if memory is None:
        try:
            memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):  # not on this platform: no warning rather than a wrong one
            memory = None
    return cpus, memory
