"""Compatibility names: the Coordinator protocol and its records live in
``pjob.queue.protocol`` (below ``pjob.engine``, so the agent can be typed
against them). Kept so existing imports of ``pjob.coord.base`` keep working.
"""

from __future__ import annotations

from pjob.queue.protocol import STATES, BatchRecord, Coordinator, Lease, Outcome, Progress

__all__ = ["STATES", "BatchRecord", "Coordinator", "Lease", "Outcome", "Progress"]
