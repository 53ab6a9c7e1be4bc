"""Every Kubernetes API call pjob makes, as data: (API group, resource,
verbs) for the operator and for the worker agents. The per-job worker Role
(``pjob.kube.builders.build_worker_role``) is built from ``WORKER``; the
chart's RBAC test (tests/unit/deploy) checks the chart grants ``OPERATOR``
(and that ``WORKER`` is within it: RBAC lets the operator create a Role only
with permissions it holds itself).

Keep this in step with the code: ``pjob.kube.handlers`` (operator) and
``pjob.coord.kube`` / ``pjob.kube.agent_cmd`` (agents).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Need:
    group: str  # "" = core
    resource: str  # plural; "x/status" for a subresource
    verbs: frozenset[str]
    why: str


def _n(group: str, resource: str, verbs: str, why: str) -> Need:
    return Need(group, resource, frozenset(verbs.split()), why)


OPERATOR: list[Need] = [
    _n(
        "pjob.dev",
        "paralleljobs",
        "get list watch patch create",
        "kopf watches ParallelJobs and patches its annotations; a PipelineJob creates child ParallelJobs",
    ),
    _n("pjob.dev", "paralleljobs/status", "get patch", "the one status write per reconcile"),
    _n("pjob.dev", "pipelinejobs", "get list watch patch", "kopf watches PipelineJobs and patches its annotations"),
    _n("pjob.dev", "pipelinejobs/status", "get patch", "pipeline status and step states"),
    _n("pjob.dev", "paralleljobs/finalizers", "update", "children's ownerReferences with blockOwnerDeletion"),
    _n("pjob.dev", "pipelinejobs/finalizers", "update", "children's ownerReferences with blockOwnerDeletion"),
    _n("batch", "jobs", "get list create delete", "the Indexed worker Job, command-step Jobs; stopped on a verdict"),
    _n("", "pods", "list", "worker pods that cannot start (WorkersPending); are the workers gone before finalising?"),
    _n(
        "",
        "persistentvolumeclaims",
        "get",
        "cluster-wide mode: does the datastore claim the workers mount exist in the job's namespace?",
    ),
    _n(
        "",
        "configmaps",
        "get create update",
        "task and queue ConfigMaps; reads the queue's counters; finalisation opens the job's KubeCoordinator",
    ),
    _n("", "serviceaccounts", "get create", "each job's workers get their own ServiceAccount"),
    _n("rbac.authorization.k8s.io", "roles", "get create", "per-job worker Role"),
    _n("rbac.authorization.k8s.io", "rolebindings", "get create", "per-job worker RoleBinding"),
    _n("", "events", "create", "an Event per condition transition (kopf posts core v1 events)"),
    _n("apiextensions.k8s.io", "customresourcedefinitions", "list watch", "kopf scans CRDs to find pjob.dev resources"),
]

WORKER: list[Need] = [
    _n(
        "",
        "configmaps",
        "get list watch create update patch",
        "the kube coordinator: queue cursor and counters with resourceVersion concurrency; the task ConfigMap",
    ),
    _n(
        "coordination.k8s.io",
        "leases",
        "get list watch create update patch delete",
        "each agent renews its own Lease; expired ones are reclaimed",
    ),
]
