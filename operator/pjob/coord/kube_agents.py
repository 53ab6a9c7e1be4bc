"""The agents a ``pjob.coord.kube.KubeCoordinator`` serves (a mixin): when
each one's heartbeat was last written (by a queue write, whose ``beats``
carry it, or its Lease), whether it holds work, and from that how long its
outcomes may wait in the Batcher (``safe_until``) and when its Lease must be
renewed (``heartbeat``).
"""

from __future__ import annotations

import dataclasses
import math
import time

from pjob.coord import kube_leases, kube_state


@dataclasses.dataclass
class AgentView:
    renewed_at: float = 0.0  # wall time before this process's last successful Lease or queue write for it
    fresh: bool = True  # no claim yet by this agent through this object
    holding: bool = False  # it held work in the last state written or read here


class AgentViews:
    """Mixin of ``KubeCoordinator``: what it knows of each agent it serves."""

    leases: kube_leases.AgentLeases
    lease_seconds: float
    renew_seconds: float
    _views: dict[str, AgentView]

    def _view(self, agent: str) -> AgentView:
        return self._views.setdefault(agent, AgentView())

    def _renew(self, agent: str) -> None:
        self._view(agent).renewed_at = self.leases.renew(agent)

    def safe_until(self, agent: str) -> float:
        """Our Lease surely has not expired in anyone's eyes before then (with a
        margin); never, when the queue as last seen here has the agent hold
        nothing (its leases were expired: only a write can answer)."""
        view = self._view(agent)
        if not view.holding:
            return -math.inf
        return view.renewed_at + self.lease_seconds - min(5.0, self.lease_seconds / 4)

    def heartbeat(self, agent: str) -> None:
        """The Lease is renewed when no queue write carried the heartbeat for ``renew_seconds``."""
        view = self._view(agent)
        if view.holding and time.time() - view.renewed_at >= self.renew_seconds:
            self._renew(agent)  # the Lease is created the first time a write did not do it

    def _sync_views(self, state: kube_state.QueueState) -> None:
        for agent, view in self._views.items():
            view.holding = bool(state.leased.get(agent))
