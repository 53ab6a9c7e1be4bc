"""How far a remote queue's client batches (pure; used by
``pjob.coord.kube.KubeCoordinator``, whose every write is an API call):

- ``claim_ahead``: how many mini-batches one claim write reserves. Enough
  for this agent's observed rate over ``horizon`` seconds (the write-behind
  interval, so one write carries the claim, the buffered outcomes and the
  heartbeat), never more than a fair share of what is left, so other agents do
  not starve at the tail; before any rate is known, ``prefetch``.
- ``write_due``: whether buffered outcomes must be written now.
"""

from __future__ import annotations

import math


def claim_ahead(need: int, prefetch: int, pending: int, agents: int, rate: float, horizon: float) -> int:
    """Mini-batches to claim when the agent asks for ``need`` (``prefetch`` <=
    ``need`` claims exactly ``need``: the strict protocol order)."""
    if prefetch <= need:
        return need
    fair = pending // (2 * max(agents, 1))
    wanted = prefetch if rate <= 0 else max(prefetch, math.ceil(rate * horizon))
    return max(need, min(wanted, fair))


def write_due(buffered: int, oldest_age: float, flush_max: int, flush_seconds: float) -> bool:
    return buffered > 0 and (buffered >= flush_max or oldest_age >= flush_seconds)
