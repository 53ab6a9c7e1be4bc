"""How far a remote queue's client batches (pure; used by
``pjob.coord.kube.KubeCoordinator``, whose every write is an API call):

- ``claim_ahead``: how many mini-batches one claim write reserves. Enough
  for this agent's observed rate over ``horizon`` seconds (the write-behind
  interval, so one write carries the claim, the buffered outcomes and the
  heartbeat), never more than a fair share of what is left (and at the tail a
  quarter of that), so other agents do not wait long at the end; before any
  rate is known, up to ``prefetch`` (half a fair share).
- ``write_due``: whether buffered outcomes must be written now.
"""

from __future__ import annotations

import math


def claim_ahead(need: int, prefetch: int, pending: int, agents: int, rate: float, horizon: float) -> int:
    """Mini-batches to claim when the agent asks for ``need`` (``prefetch`` <=
    ``need`` claims exactly ``need``: the strict protocol order)."""
    if prefetch <= need:
        return need
    agents = max(agents, 1)
    if rate <= 0:  # no rate yet: up to prefetch, half a fair share (the others may be starting too)
        return max(need, min(prefetch, pending // (2 * agents)))
    wanted = min(prefetch, math.ceil(rate * horizon))  # prefetch bounds what one agent holds (object size)
    fair = max(pending // agents, wanted // 4)  # at the tail: a quarter of the horizon each
    return max(need, min(wanted, fair, pending))


def write_due(buffered: int, oldest_age: float, flush_max: int, flush_seconds: float) -> bool:
    return buffered > 0 and (buffered >= flush_max or oldest_age >= flush_seconds)
