"""Builders against the Kubernetes API types and the Helm chart's operator
config: every object the operator creates deserialises into the official
client's models without losing a field, and worker pods take the chart's
image, security contexts and datastore volume."""

from __future__ import annotations

import os
import sys

import pytest
from pjob.engine.task import ParallelTask
from pjob.kube import builders, jobspec
from pjob.kube import constants as c
from pjob.kube.config import OperatorConfig
from pjob.spec import load, models, resolve

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy"))
import chart_render
from kube_wrappers import PIPELINE_CR as PIPELINE
from kube_wrappers import SCORE_CR as CR
from kube_wrappers import mounted_task

MODELS = {
    "ConfigMap": "V1ConfigMap",
    "ServiceAccount": "V1ServiceAccount",
    "Role": "V1Role",
    "RoleBinding": "V1RoleBinding",
    "Job": "V1Job",
}


def task(**kw) -> ParallelTask:
    return mounted_task(**{"instance_count": 3, "max_retries": 2, **kw})


def command_job(config: OperatorConfig) -> dict:
    step = models.CommandStep(command="python prep.py", limits={"timeout": 60})
    resolved = resolve.ResolvedStep(
        "prep",
        "command",
        {},
        {"data": resolve.DataValue("uri_folder", "/mnt/pjob/d")},
        {"SEED": "1"},
        command="python prep.py",
        code_dir="/mnt/pjob/code",
    )
    return builders.build_command_job(PIPELINE, "prep_data", step, resolved, "/mnt/pjob/runs/x/steps/prep_data", config)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_children_are_valid_kubernetes_objects(kind):
    config = OperatorConfig()
    objs = [
        o for o in builders.build_parallel_children(CR, task(), config) + [command_job(config)] if o["kind"] == kind
    ]
    assert objs
    for obj in objs:
        typed = chart_render.strict_roundtrip(obj, MODELS[kind])
        assert chart_render.diff_paths(obj, typed) == [], f"{kind} fields unknown to the API types"


def test_worker_job_shape():
    job = builders.build_worker_job(CR, task(), OperatorConfig())
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "score-worker"
    (container,) = pod["containers"]
    assert container["args"] == ["agent", "--coordinator", "kube://team-a/score", "--task", "configmap:score-task"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PJOB_DATASTORE_ROOT"]["value"] == "/mnt/pjob"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailJob" and rules[0]["onExitCodes"]["values"] == [3, 4]  # fatal, disk full
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": c.API_VERSION,
            "kind": "ParallelJob",
            "name": "score",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_queue_configmap_is_the_coordinators_format():
    from pjob.coord import kube_state

    cm = builders.build_queue_configmap(CR, 3)
    assert cm["metadata"]["name"] == "score-queue"
    state = kube_state.QueueState.decode(cm["data"])
    assert state.total is None and state.max_attempts == 3  # node 0 publishes the plan


def test_command_job_runs_the_step_and_never_calls_the_api():
    job = command_job(OperatorConfig())
    assert job["metadata"]["name"] == c.step_child_name("pl", "prep_data")
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["args"][:2] == ["agent", "--command-step"]
    assert {"name": "SEED", "value": "1"} in container["env"]


@pytest.mark.parametrize("text,limit", [("score", 52), ("Count_Words", 52), ("x" * 80, 52), ("a.b/c", 40)])
def test_dns_names_are_valid_and_distinct(text, limit):
    import re

    name = c.dns_name(text, limit)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= limit
    assert c.dns_name(text + "2", limit) != name


def test_child_paralleljob_carries_concrete_inputs_and_literals(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "s.py").write_text("def run(mb):\n    return mb\n")
    data = {
        "type": "pipeline",
        "inputs": {"n": 3},
        "jobs": {
            "score": {
                "type": "parallel",
                "inputs": {
                    "d": {"type": "uri_folder", "path": "azureml://datastores/blob/paths/in"},
                    "n": "${{parent.inputs.n}}",
                },
                "outputs": {"o": {"type": "uri_file"}},
                "input_data": "${{inputs.d}}",
                "task": {
                    "code": "code",
                    "entry_script": "s.py",
                    "program_arguments": "--n ${{inputs.n}}",
                    "append_row_to": "${{outputs.o}}",
                },
            }
        },
    }
    loaded = load.load_data(data, str(tmp_path / "p.yml"), {})
    body = {**PIPELINE, "metadata": {**PIPELINE["metadata"], "annotations": {c.ANNOTATION_BASE_DIR: str(tmp_path)}}}
    config = OperatorConfig(datastore_root="/mnt/pjob")
    (step,) = jobspec.pipeline_steps(body, loaded, config)
    child = step.child
    assert child["spec"]["inputs"] == {"d": {"type": "uri_folder", "path": "/mnt/pjob/datastores/blob/in"}, "n": 3}
    assert child["spec"]["outputs"]["o"]["path"] == "/mnt/pjob/runs/team-a/pl/steps/score/outputs/o"
    assert child["spec"]["task"]["code"] == str(tmp_path / "code")
    notes = dict(child["metadata"]["annotations"])
    carried = jobspec.carried_task(child)
    assert notes.pop(jobspec.ANNOTATION_TASK) and notes == {
        c.ANNOTATION_RUN_DIR: "/mnt/pjob/runs/team-a/pl",
        c.ANNOTATION_STEP: "score",
    }
    # the child carries its resolved task (the operator does not load, check or resolve it again) ...
    assert jobspec.parallel_task(child, None, config) is not None
    assert carried.argv == ["--n", "3"] and carried.work_dir == "/mnt/pjob/runs/team-a/pl/steps/score/work"
    # ... and it is the task its own spec resolves to
    bare = {**child, "metadata": {**child["metadata"], "annotations": notes}}
    child_loaded = jobspec.load_cr(bare, config, check_files=False)
    assert not child_loaded.problems
    assert jobspec.parallel_task(bare, child_loaded, config).to_json() == carried.to_json()


@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "datastore": {"pvc": {"mountPath": "/data/pjob", "existingClaim": "shared"}},
            "worker": {"image": {"repository": "reg.example/pjob-gpu", "tag": "1.2"}},
        },
    ],
)
def test_worker_pods_follow_the_chart(values):
    objs = chart_render.objects(chart_render.render(values))
    config = OperatorConfig.from_dict(chart_render.operator_config(objs))
    job = builders.build_worker_job(CR, task(), config)
    pod = job["spec"]["template"]["spec"]
    chart_worker = chart_render.operator_config(objs)["worker"]
    assert pod["securityContext"] == chart_worker["podSecurityContext"]
    assert pod["containers"][0]["securityContext"] == chart_worker["securityContext"]
    assert pod["containers"][0]["image"] == chart_worker["image"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
    expected_root = (values.get("datastore") or {}).get("pvc", {}).get("mountPath", "/mnt/pjob")
    assert mounts["datastore"] == expected_root == config.datastore_root
    if values:
        assert claims["datastore"] == "shared" and pod["containers"][0]["image"] == "reg.example/pjob-gpu:1.2"
