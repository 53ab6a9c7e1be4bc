"""Fluent builders of CR bodies and observations for the kube unit tests
(after JobSet's ``pkg/util/testing/wrappers.go``)."""

from __future__ import annotations

import copy

from pjob.coord import base
from pjob.engine.task import ParallelTask
from pjob.kube import constants as c

SPEC = {
    "type": "parallel",
    "inputs": {"docs": {"type": "uri_folder", "path": "/data/docs"}},
    "outputs": {"out": {"type": "uri_folder"}},
    "input_data": "${{inputs.docs}}",
    "mini_batch_size": "2",
    "resources": {"instance_count": 2},
    "task": {"code": "/data/code", "entry_script": "score.py", "append_row_to": "${{outputs.out}}"},
}

# bodies the builders' tests build children of (the operator's view of a CR: spec already resolved)
SCORE_CR = {
    "apiVersion": c.API_VERSION,
    "kind": c.PARALLEL_KIND,
    "metadata": {"name": "score", "namespace": "team-a", "uid": "u-1", "generation": 1},
    "spec": {},
}
PIPELINE_CR = {
    "apiVersion": c.API_VERSION,
    "kind": c.PIPELINE_KIND,
    "metadata": {"name": "pl", "namespace": "team-a", "uid": "u-2", "generation": 1},
    "spec": {},
}


def mounted_task(**fields) -> ParallelTask:
    """The resolved task of SCORE_CR's step, its paths under the datastore mount /mnt/pjob."""
    base_fields: dict = dict(
        step="score",
        job="score",
        code_dir="/mnt/pjob/code",
        entry_script="s.py",
        argv=[],
        env={},
        input_type="uri_folder",
        input_uri="/mnt/pjob/in",
        mini_batch_size=None,
        partition_keys=None,
        output_dir="/mnt/pjob/out",
        append_row_to=None,
        logs_dir="/mnt/pjob/logs",
        work_dir="/mnt/pjob/work",
    )
    return ParallelTask(**{**base_fields, **fields})


class CR:
    def __init__(self, name: str = "pj", kind: str = c.PARALLEL_KIND, namespace: str = "ns"):
        self.body = {
            "apiVersion": c.API_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
            "spec": copy.deepcopy(SPEC) if kind == c.PARALLEL_KIND else {"type": "pipeline", "jobs": {}},
        }

    def spec(self, **fields) -> CR:
        self.body["spec"].update(fields)
        return self

    def condition(
        self, type_: str, status: str, reason: str = "R", message: str = "m", when: str = "2026-01-01T00:00:00Z"
    ) -> CR:
        conds = self.body.setdefault("status", {}).setdefault("conditions", [])
        conds.append(
            {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": when}
        )
        return self

    def status(self, **fields) -> CR:
        self.body.setdefault("status", {}).update(fields)
        return self

    def annotate(self, key: str, value: str) -> CR:
        self.body["metadata"].setdefault("annotations", {})[key] = value
        return self

    def obj(self) -> dict:
        return copy.deepcopy(self.body)


def progress(total=10, pending=0, leased=0, done=0, failed=0, items_ok=0, items_failed=0, attempts=None, last=0.0):
    return base.Progress(
        total=total,
        pending=pending,
        leased=leased,
        done=done,
        failed=failed,
        items_succeeded=items_ok,
        items_failed=items_failed,
        attempts=attempts if attempts is not None else done + failed + leased,
        last_progress=last,
    )


def job(active=0, succeeded=0, failed=0, condition: str | None = None, parallelism: int = 2) -> dict:
    status = {"active": active, "succeeded": succeeded, "failed": failed}
    if condition:
        status["conditions"] = [{"type": condition, "status": "True", "reason": "X", "message": f"job {condition}"}]
    return {"kind": "Job", "metadata": {"name": "pj-workers"}, "spec": {"parallelism": parallelism}, "status": status}
