"""What the pjob code calls on the Kubernetes API, as data: the permission
table the chart's RBAC is checked against (tests/unit/deploy/test_chart_rbac.py).

Each ``Need`` is one (API group, resource, verbs) with the reason: which code
path calls it. Today the table is written by hand from docs/architecture.md ("On
Kubernetes") and the operator's contract; once ``pjob.kube`` exists the
lead derives (or cross-checks) it from the code (TODO in the deploy report).

Groups:
- ``OPERATOR_NAMESPACED``: what the operator does inside a namespace that holds
  jobs (granted by a ClusterRole cluster-wide, or a Role per watched namespace);
- ``OPERATOR_CLUSTER``: cluster-scoped reads kopf needs in both modes;
- ``OPERATOR_CLUSTER_WIDE_ONLY``: extra cluster-scoped needs when serving every
  namespace;
- ``WORKER``: what a worker pod's ``pjob agent`` calls, granted by the per-job
  Role the operator creates. RBAC lets the operator create that Role only if
  it holds every one of these permissions itself, so they must be a subset of
  ``OPERATOR_NAMESPACED``.
"""

from __future__ import annotations

import dataclasses

CRUD = frozenset({"create", "get", "list", "watch", "update", "patch", "delete"})


@dataclasses.dataclass(frozen=True)
class Need:
    group: str  # "" is the core API group
    resource: str  # plural, "/subresource" included
    verbs: frozenset[str]
    why: str


def _need(group: str, resource: str, verbs: set[str] | frozenset[str], why: str) -> Need:
    return Need(group, resource, frozenset(verbs), why)


OPERATOR_NAMESPACED: list[Need] = [
    _need(
        "pjob.dev",
        "paralleljobs",
        {"get", "list", "watch", "patch", "update", "create"},
        "kopf watches and patches (annotations, finalizers); PipelineJob steps create child ParallelJobs",
    ),
    _need(
        "pjob.dev",
        "pipelinejobs",
        {"get", "list", "watch", "patch", "update", "create"},
        "kopf watches and patches PipelineJobs",
    ),
    _need("pjob.dev", "paralleljobs/status", {"get", "patch", "update"}, "one status write per reconcile"),
    _need("pjob.dev", "pipelinejobs/status", {"get", "patch", "update"}, "pipeline step states"),
    _need(
        "pjob.dev",
        "paralleljobs/finalizers",
        {"update"},
        "children's ownerReferences with blockOwnerDeletion (OwnerReferencesPermissionEnforcement)",
    ),
    _need("pjob.dev", "pipelinejobs/finalizers", {"update"}, "child ParallelJobs/Jobs owned by a PipelineJob"),
    _need(
        "batch",
        "jobs",
        {"create", "get", "list", "watch", "delete", "patch"},
        "one Indexed Job per ParallelJob, one Job per command step; stopped on a verdict",
    ),
    _need("", "pods", {"get", "list", "watch"}, "observe worker pods (restarts, failures) for status"),
    _need(
        "",
        "persistentvolumeclaims",
        {"get"},
        "cluster-wide mode: the datastore claim the workers mount exists in the job's namespace",
    ),
    _need("", "configmaps", CRUD, "queue ConfigMap per job; shipped code ConfigMaps"),
    _need("coordination.k8s.io", "leases", CRUD, "agent heartbeats: read, expire, clean up"),
    _need("", "serviceaccounts", {"create", "get", "list", "patch"}, "each job's workers get their own ServiceAccount"),
    _need("rbac.authorization.k8s.io", "roles", {"create", "get", "list", "patch"}, "per-job worker Role"),
    _need(
        "rbac.authorization.k8s.io", "rolebindings", {"create", "get", "list", "patch"}, "per-job worker RoleBinding"
    ),
    _need("", "events", {"create", "patch"}, "kopf posts events (core v1)"),
    _need("events.k8s.io", "events", {"create", "patch"}, "an Event per condition transition"),
]

OPERATOR_CLUSTER: list[Need] = [
    _need(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        {"get", "list", "watch"},
        "kopf scans CRDs to find the pjob.dev resources",
    )
]

OPERATOR_CLUSTER_WIDE_ONLY: list[Need] = [
    _need("", "namespaces", {"list", "watch"}, "kopf --all-namespaces follows namespaces as they come and go")
]

WORKER: list[Need] = [
    _need(
        "",
        "configmaps",
        {"get", "list", "watch", "update", "patch", "create"},
        "kube coordinator: claim cursor and counters with resourceVersion concurrency",
    ),
    _need("coordination.k8s.io", "leases", CRUD, "each agent renews its own Lease; reclaims expired ones"),
    _need("pjob.dev", "paralleljobs", {"get"}, "agent reads its job's spec"),
]

# Resources the operator must never hold cluster-wide in the default
# (PVC datastore) install: credentials are injected into pods by reference.
FORBIDDEN_CLUSTER_WIDE: set[tuple[str, str]] = {("", "secrets"), ("", "pods/exec"), ("", "nodes")}
