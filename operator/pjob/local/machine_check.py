"""Warnings about settings this machine cannot hold, printed by ``pjob run``
before it starts (``max_concurrency_per_instance`` far beyond its memory).
The decision is ``pjob.engine.capacity.warning``; this module finds the
settings in the job and names their FILE:LINE.
"""

from __future__ import annotations

from pjob.engine import capacity
from pjob.spec import yamlio


def warnings(loaded, max_workers: int | None = None) -> list[str]:
    asked = {}
    for name, step in loaded.job.jobs.items():
        requested = getattr(step, "max_concurrency_per_instance", None)
        if isinstance(requested, int) and not isinstance(requested, bool):
            asked[name] = min(requested, max_workers) if max_workers else requested
    if not asked:
        return []
    cpus, memory = capacity.machine()
    out = []
    for name, requested in asked.items():
        said = capacity.warning(requested, cpus, memory)
        if said:
            path = (
                ("max_concurrency_per_instance",) if loaded.wrapped else ("jobs", name, "max_concurrency_per_instance")
            )
            out.append(f"{loaded.file}:{yamlio.line_of(loaded.lines, path)}: {'.'.join(path)}: {said}")
    return out
