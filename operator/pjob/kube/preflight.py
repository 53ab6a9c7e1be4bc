"""Pure checks the operator makes before it creates anything for a job:

- ``name_problems``: a CR name too long to be a label value on its children
  and pods (63 characters) is a spec problem (``SpecValid=False``, terminal)
  instead of a create that fails on every reconcile;
- ``claims_to_check`` / ``claim_problems``: in cluster-wide mode, worker pods
  mount the datastore claim (and any other claim of the chart's worker
  volumes) by name in the JOB's namespace, where it may not exist (the pods
  would stay Pending forever). The operator reads those claims first
  (``pjob.kube.handlers``) and starts no workers while one is missing
  (condition ``WorkersPending``, reason ``ClaimNotFound``, a Warning event).

Table tests in tests/unit/kube/test_kube_preflight.py.
"""

from __future__ import annotations

from typing import Any

from pjob.kube import constants as c


def name_problems(kind: str, name: str) -> list[str]:
    """``metadata.name`` problems of a ParallelJob/PipelineJob (the API server
    already checked it is a DNS subdomain, up to 253 characters)."""
    if len(name) <= c.MAX_CR_NAME:
        return []
    label = c.LABEL_JOB if kind == c.PARALLEL_KIND else c.LABEL_PIPELINE
    return [c.MSG_NAME_TOO_LONG.format(name=name, length=len(name), limit=c.MAX_CR_NAME, kind=kind, label=label)]


def claims_to_check(worker: dict[str, Any], namespace: str, operator_namespace: str) -> list[str]:
    """Claim names the worker pods mount, when they must be checked: the job
    runs outside the operator's namespace (the operator's own claims are the
    ones in its namespace; an unknown operator namespace checks nothing)."""
    if not operator_namespace or namespace == operator_namespace:
        return []
    names = [(v.get("persistentVolumeClaim") or {}).get("claimName") for v in worker.get("volumes") or []]
    return sorted({n for n in names if n})


def claim_problems(missing: list[str], namespace: str, operator_namespace: str) -> list[str]:
    return [
        c.MSG_CLAIM_NOT_FOUND.format(claim=claim, namespace=namespace, operator_namespace=operator_namespace)
        for claim in sorted(missing)
    ]
