"""Checks before anything is created for a job (pjob.kube.preflight): a CR
name too long to be a label value is SpecValid=False with the limit and the
fix (not a create failing on every reconcile); in cluster-wide mode the
datastore claim the workers mount must exist in the job's namespace, else no
worker starts and WorkersPending=True (reason ClaimNotFound, Warning event)
names the claim, the namespace and the fix."""

from __future__ import annotations

import pytest
from pjob.kube import constants as c
from pjob.kube import preflight
from test_kube_handlers import MemoryKube, apply, body_for, make_memo, tick

WORKER = {
    "volumes": [
        {"name": "tmp", "emptyDir": {}},
        {"name": "datastore", "persistentVolumeClaim": {"claimName": "pjob-datastore"}},
        {"name": "pip", "persistentVolumeClaim": {"claimName": "pjob-pip-cache"}},
    ]
}


@pytest.mark.parametrize(
    "kind, length, problem",
    [
        (c.PARALLEL_KIND, 63, False),
        (c.PARALLEL_KIND, 64, True),
        (c.PIPELINE_KIND, 63, False),
        (c.PIPELINE_KIND, 200, True),
    ],
)
def test_name_problems(kind, length, problem):
    name = "a" * length
    found = preflight.name_problems(kind, name)
    assert bool(found) is problem
    if problem:
        label = c.LABEL_JOB if kind == c.PARALLEL_KIND else c.LABEL_PIPELINE
        assert found == [
            f"metadata.name: {name!r} has {length} characters, more than 63: a {kind}'s name is the "
            f"value of the label {label} on its child objects and worker pods, which Kubernetes limits "
            f"to 63 characters; delete the {kind} and create it again with a shorter name "
            "(pjob submit --name NAME)"
        ]


@pytest.mark.parametrize(
    "namespace, operator_namespace, claims",
    [
        ("team-a", "pjob", ["pjob-datastore", "pjob-pip-cache"]),
        ("pjob", "pjob", []),  # the operator's own namespace: its claims
        ("team-a", "", []),  # operator namespace unknown (not run by the chart)
    ],
)
def test_claims_to_check(namespace, operator_namespace, claims):
    assert preflight.claims_to_check(WORKER, namespace, operator_namespace) == claims


def test_a_too_long_name_is_spec_invalid_once_and_creates_nothing(project):
    kube, events = MemoryKube(), []
    body = body_for(project)
    body["metadata"]["name"] = "n" * 64
    patch = tick(body, make_memo(kube, events))
    conds = {x["type"]: x for x in patch["status"]["conditions"]}
    assert (conds[c.SPEC_VALID]["status"], conds[c.SPEC_VALID]["reason"]) == (c.FALSE, c.REASON_SPEC_INVALID)
    assert "more than 63" in conds[c.SPEC_VALID]["message"] and "shorter name" in conds[c.SPEC_VALID]["message"]
    assert conds[c.FAILED]["status"] == c.TRUE and patch["status"]["state"] == c.STATE_FAILED
    assert kube.creates() == []
    assert ("Warning", c.REASON_SPEC_INVALID) in events


def test_a_missing_claim_in_the_jobs_namespace_starts_no_worker_until_it_exists(project):
    kube, events = MemoryKube(), []
    memo = make_memo(kube, events)
    memo.config.operator_namespace = "pjob"
    body = body_for(project)  # namespace "ns", the operator's is "pjob"
    body = apply(body, tick(body, memo))
    assert "Job" not in kube.creates()
    pending = {x["type"]: x for x in body["status"]["conditions"]}[c.WORKERS_PENDING]
    assert (pending["status"], pending["reason"]) == (c.TRUE, c.REASON_CLAIM_NOT_FOUND)
    assert pending["message"].startswith("PersistentVolumeClaim pjob-datastore not found in namespace ns:")
    assert "or submit the job in namespace pjob" in pending["message"]
    assert ("Warning", c.REASON_CLAIM_NOT_FOUND) in events
    assert body["status"]["state"] == c.STATE_PENDING
    kube.objects[("PersistentVolumeClaim", "ns", "pjob-datastore")] = {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "pjob-datastore"},
    }
    body = apply(body, tick(body, memo))
    assert "Job" in kube.creates()
    assert body["status"]["state"] == c.STATE_RUNNING
