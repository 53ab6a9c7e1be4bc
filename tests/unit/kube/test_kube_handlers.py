"""The kopf handlers called directly (kopf's documented way: body=, patch=kopf.Patch(),
memo=), with an in-memory API behind the KubeApi seam: one status write per
reconcile, events only for written transitions, children created once."""

from __future__ import annotations

import copy

import kopf
import pytest
from kube_wrappers import progress
from pjob.engine import policy
from pjob.kube import constants as c
from pjob.kube import handlers
from pjob.kube.config import OperatorConfig

NOW = 1_800_000_000.0


class MemoryKube:
    """get/list/create/delete over dicts, recording every call."""

    def __init__(self):
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.calls: list[tuple[str, str, str]] = []

    def create(self, obj):
        key = (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        self.calls.append(("create",) + key[::2])
        if key in self.objects:
            return False
        self.objects[key] = copy.deepcopy(obj)
        return True

    def get(self, kind, namespace, name):
        self.calls.append(("get", kind, name))
        return copy.deepcopy(self.objects.get((kind, namespace, name)))

    def list(self, kind, namespace, selector):
        self.calls.append(("list", kind, ""))
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if k == kind
            and ns == namespace
            and all(o["metadata"].get("labels", {}).get(a) == b for a, b in selector.items())
        ]

    def delete(self, kind, namespace, name):
        self.calls.append(("delete", kind, name))
        return self.objects.pop((kind, namespace, name), None) is not None

    def creates(self):
        return [call[1] for call in self.calls if call[0] == "create"]


class FakeQueue:
    def __init__(self, p):
        self.p = p

    def counters(self):
        return self.p


def body_for(project, **spec_changes):
    spec = {
        "type": "parallel",
        "inputs": {"docs": {"type": "uri_folder", "path": "docs"}},
        "outputs": {"out": {"type": "uri_folder"}},
        "input_data": "${{inputs.docs}}",
        "resources": {"instance_count": 2},
        "task": {"code": "code", "entry_script": "score.py", "append_row_to": "${{outputs.out}}"},
    }
    spec.update(spec_changes)
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.PARALLEL_KIND,
        "metadata": {
            "name": "pj",
            "namespace": "ns",
            "uid": "u-1",
            "generation": 1,
            "annotations": {c.ANNOTATION_BASE_DIR: str(project)},
        },
        "spec": spec,
    }


def make_memo(kube, events, queue=None, finaliser=None, root="/ds"):
    memo = kopf.Memo(
        kube=kube,
        config=OperatorConfig(datastore_root=root),
        clock=lambda: NOW,
        post_event=lambda body, event: events.append((event.type, event.reason)),
    )
    if queue is not None:
        memo.open_coordinator = lambda ns, name, task: queue
    if finaliser is not None:
        memo.finaliser = finaliser
    return memo


def tick(body, memo):
    patch = kopf.Patch()
    handlers.on_paralleljob_tick(body=body, patch=patch, memo=memo)
    return patch


def apply(body, patch):
    """What kopf does with patch.status (a merge patch)."""
    out = copy.deepcopy(body)
    status = out.setdefault("status", {})
    for key, value in dict(patch.get("status", {})).items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = value
    return out


def test_bad_spec_sets_spec_valid_false_posts_a_warning_and_creates_nothing(project):
    kube, events = MemoryKube(), []
    patch = tick(body_for(project, input_data="${{inputs.nope}}"), make_memo(kube, events))
    conds = {x["type"]: x for x in patch["status"]["conditions"]}
    assert conds[c.SPEC_VALID]["status"] == "False" and "nope" in conds[c.SPEC_VALID]["message"]
    assert patch["status"]["state"] == "Failed"
    assert ("Warning", c.REASON_SPEC_INVALID) in events
    assert kube.creates() == []


def test_good_spec_creates_every_child_once_and_writes_status_once_per_change(project):
    kube, events = MemoryKube(), []
    memo = make_memo(kube, events)
    body = body_for(project)
    patch = tick(body, memo)
    assert kube.creates() == ["ConfigMap", "ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Job"]
    job = kube.objects[("Job", "ns", "pj-workers")]
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert events == [("Normal", c.REASON_SPEC_VALID), ("Normal", c.REASON_WORKERS_STARTED)]
    body = apply(body, patch)
    kube.calls.clear()
    events.clear()
    again = tick(body, memo)
    assert kube.creates() == []
    assert "status" not in again or not dict(again["status"]), "nothing changed: no status write"
    assert events == []


def test_progress_then_verdict_then_finalisation(project):
    kube, events = MemoryKube(), []
    queue = FakeQueue(progress(total=4, pending=2, done=2, items_ok=2, last=NOW))
    finalised = []

    def finaliser(task, q, verdict, body):
        finalised.append(verdict.state)
        return verdict, q.counters()

    memo = make_memo(kube, events, queue=queue, finaliser=finaliser)
    body = apply(body_for(project), tick(body_for(project), memo))
    body = apply(body, tick(body, memo))
    assert body["status"]["progress"] == "2/4"
    queue.p = progress(total=4, done=4, items_ok=4, last=NOW)
    kube.objects[("Job", "ns", "pj-workers")]["status"] = {
        "succeeded": 2,
        "conditions": [{"type": "Complete", "status": "True"}],
    }
    body = apply(body, tick(body, memo))  # verdict recorded, workers done: finalised in the same reconcile
    assert finalised == [policy.SUCCEEDED]
    status = body["status"]
    assert status["state"] == "Succeeded" and "verdict" not in status
    assert status["outputs"] == {"out": "/ds/runs/ns/pj/steps/pj/outputs/out"}
    assert ("Normal", c.REASON_COMPLETED) in events
    kube.calls.clear()
    tick(body, memo)
    assert kube.calls == [], "a terminal job costs no API call"


def test_failed_verdict_stops_the_workers(project):
    kube, events = MemoryKube(), []
    queue = FakeQueue(progress(total=4, pending=1, done=1, failed=2, last=NOW))
    memo = make_memo(kube, events, queue=queue, finaliser=lambda t, q, v, b: (v, q.counters()))
    body = body_for(project, mini_batch_error_threshold=1)
    body = apply(body, tick(body, memo))
    kube.objects[("Job", "ns", "pj-workers")]["status"] = {"active": 2}
    body = apply(body, tick(body, memo))
    assert ("delete", "Job", "pj-workers") in kube.calls
    assert body["status"]["verdict"]["rule"] == policy.MINI_BATCH_ERROR_THRESHOLD
    body = apply(body, tick(body, memo))  # Job gone, no pods left: finalise
    assert body["status"]["state"] == "Failed"
    failed = next(x for x in body["status"]["conditions"] if x["type"] == c.FAILED)
    assert failed["reason"] == "MiniBatchErrorThreshold"


def test_pipeline_tick_starts_only_ready_steps(project):
    kube, events = MemoryKube(), []
    body = {
        "apiVersion": c.API_VERSION,
        "kind": c.PIPELINE_KIND,
        "metadata": {
            "name": "pl",
            "namespace": "ns",
            "uid": "u-2",
            "generation": 1,
            "annotations": {c.ANNOTATION_BASE_DIR: str(project)},
        },
        "spec": {
            "type": "pipeline",
            "jobs": {
                "prep": {
                    "type": "command",
                    "command": "echo hi > ${{outputs.data}}/x.txt",
                    "outputs": {"data": {"type": "uri_folder"}},
                },
                "score": {
                    "type": "parallel",
                    "inputs": {"d": {"type": "uri_folder", "path": "${{parent.jobs.prep.outputs.data}}"}},
                    "outputs": {"out": {"type": "uri_file"}},
                    "input_data": "${{inputs.d}}",
                    "task": {"code": "code", "entry_script": "score.py", "append_row_to": "${{outputs.out}}"},
                },
            },
        },
    }
    patch = kopf.Patch()
    handlers.on_pipelinejob_tick(body=body, patch=patch, memo=make_memo(kube, events))
    assert kube.creates() == ["Job"]
    assert {k: v["state"] for k, v in patch["status"]["steps"].items()} == {"prep": "Running", "score": "Pending"}


def test_a_spec_edit_after_the_start_is_reported_and_ignored(project):
    kube, events = MemoryKube(), []
    memo = make_memo(kube, events)
    body = body_for(project)
    body = apply(body, tick(body, memo))
    assert body["status"]["outputs"] == {"out": "/ds/runs/ns/pj/steps/pj/outputs/out"}
    task_before = kube.objects[("ConfigMap", "ns", "pj-task")]["data"]["task.json"]
    body["metadata"]["generation"] = 2
    body["spec"]["input_data"] = "${{inputs.typo}}"  # even an invalid edit does not stop the running job
    fresh_memo = make_memo(kube, events)  # e.g. after an operator restart
    kube.calls.clear()
    body = apply(body, tick(body, fresh_memo))
    valid = next(x for x in body["status"]["conditions"] if x["type"] == c.SPEC_VALID)
    assert (valid["status"], valid["reason"]) == ("True", c.REASON_SPEC_CHANGE_IGNORED)
    assert body["status"]["observedGeneration"] == 2
    assert body["status"]["state"] == "Running"
    assert kube.creates() == []
    assert kube.objects[("ConfigMap", "ns", "pj-task")]["data"]["task.json"] == task_before


def test_bad_gpu_annotation_is_an_invalid_spec_naming_the_annotation(project):
    kube, events = MemoryKube(), []
    body = body_for(project)
    body["metadata"]["annotations"][c.ANNOTATION_GPUS] = "a100"
    patch = tick(body, make_memo(kube, events))
    conds = {x["type"]: x for x in patch["status"]["conditions"]}
    assert conds[c.SPEC_VALID]["status"] == "False"
    assert c.ANNOTATION_GPUS in conds[c.SPEC_VALID]["message"] and "a100" in conds[c.SPEC_VALID]["message"]
    assert kube.creates() == []


def test_gpu_annotation_reaches_the_task_and_the_worker_pods(project):
    import json

    kube, events = MemoryKube(), []
    body = body_for(project)
    body["metadata"]["annotations"][c.ANNOTATION_GPUS] = "2"
    tick(body, make_memo(kube, events))
    task = json.loads(kube.objects[("ConfigMap", "ns", c.task_configmap_name("pj"))]["data"]["task.json"])
    assert task["gpus"] == 2  # the engine sets CUDA_VISIBLE_DEVICES per worker from it
    pod = kube.objects[("Job", "ns", c.worker_job_name("pj"))]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_operator_reads_no_conda_file_the_pods_check_it(project, enabled):
    """The operator has no datastore: a conda file the pods will install from is
    theirs to read (pjob-pip-env fails the pod naming it); the spec is valid."""
    import json

    kube, events = MemoryKube(), []
    memo = make_memo(kube, events)
    memo.config = OperatorConfig.from_dict(
        {"worker": {"pipFromCondaFile": {"enabled": enabled}}}, {"PJOB_DATASTORE_ROOT": "/ds"}
    )
    body = body_for(
        project,
        task={
            "code": "code",
            "entry_script": "score.py",
            "append_row_to": "${{outputs.out}}",
            "environment": {"image": "x", "conda_file": "env/conda.yml"},
        },
    )
    patch = tick(body, memo)
    conds = {x["type"]: x for x in patch["status"]["conditions"]}
    assert conds[c.SPEC_VALID]["status"] == "True" and "Job" in kube.creates()
    command = kube.objects[("Job", "ns", c.worker_job_name("pj"))]["spec"]["template"]["spec"]["containers"][0]
    assert (str(project / "env" / "conda.yml") in json.dumps(command)) == enabled
