"""Names and fresh objects of a Kubernetes queue (pure; re-exported by
``pjob.coord.kube``, used by the operator's builders): the coordinator URI,
the queue ConfigMap's name and its initial body.
"""

from __future__ import annotations

import re
from typing import Any

from pjob.coord import kube_leases, kube_state
from pjob.spec import errors

lease_name = kube_leases.lease_name


def parse_uri(uri: str) -> tuple[str, str]:
    """``kube://<namespace>/<job>`` -> (namespace, job)."""
    m = re.fullmatch(r"kube://([a-z0-9.-]+)/([a-z0-9.-]+)/?", uri)
    if not m:
        raise errors.UserError(f"bad coordinator URI {uri!r}: expected kube://<namespace>/<job>", field="--coordinator")
    return m.group(1), m.group(2)


def queue_name(job: str) -> str:
    return f"{job}-queue"


lease_name = kube_leases.lease_name


def queue_configmap(
    namespace: str, job: str, total: int | None, max_attempts: int, owner_references: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The queue ConfigMap of a fresh job (also used by the operator's builders)."""
    meta: dict[str, Any] = {"name": queue_name(job), "namespace": namespace, "labels": {kube_leases.QUEUE_LABEL: job}}
    if owner_references:
        meta["ownerReferences"] = owner_references
    state = kube_state.QueueState(total=total, max_attempts=max_attempts)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": state.encode()}
