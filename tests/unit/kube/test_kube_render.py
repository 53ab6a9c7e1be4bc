"""``pjob operator render FILE`` through the real CLI, on every example and
the seed pipeline: the CR and every child, recursively, built by the
operator's builders."""

import glob
import os
import re
import subprocess
import sys

import pytest
import yaml
from pjob.kube import rbac

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
YAMLS = sorted(glob.glob(os.path.join(ROOT, "examples", "*", "pipeline.yml"))) + [
    os.path.join(ROOT, "tests", "fixtures", "seed", "pipeline.yml")
]
DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def render(path, *extra):
    proc = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "operator", "render", path, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc


def objects_of(path, *extra):
    proc = render(path, *extra)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="module", params=YAMLS, ids=lambda p: os.path.relpath(p, ROOT))
def rendered(request):
    return request.param, objects_of(request.param, "--namespace", "team-a")


def test_every_child_is_owned_by_an_object_in_the_stream(rendered):
    _, objs = rendered
    top = objs[0]
    assert top["kind"] in ("ParallelJob", "PipelineJob") and top["apiVersion"] == "pjob.dev/v1alpha1"
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for obj in objs[1:]:
        meta = obj["metadata"]
        assert meta["namespace"] == "team-a"
        assert DNS.match(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
        (owner,) = meta["ownerReferences"]
        assert owner["controller"] is True and owner["blockOwnerDeletion"] is True
        assert (owner["kind"], owner["name"]) in names


def test_each_parallel_job_has_one_indexed_job_sized_by_instance_count(rendered):
    _, objs = rendered
    pjs = [o for o in objs if o["kind"] == "ParallelJob"]
    assert pjs, "every example has a parallel step"
    for pj in pjs:
        name = pj["metadata"]["name"]
        owned = [
            o
            for o in objs
            if o["metadata"].get("ownerReferences", [{}])[0].get("name") == name
            and o["metadata"]["ownerReferences"][0]["kind"] == "ParallelJob"
        ]
        jobs = [o for o in owned if o["kind"] == "Job"]
        assert len(jobs) == 1
        spec = jobs[0]["spec"]
        instances = (pj["spec"].get("resources") or {}).get("instance_count", 1)
        assert spec["completionMode"] == "Indexed"
        assert spec["completions"] == spec["parallelism"] == instances
        args = spec["template"]["spec"]["containers"][0]["args"]
        assert args[:3] == ["agent", "--coordinator", f"kube://team-a/{name}"]
        assert sorted(o["kind"] for o in owned) == [
            "ConfigMap",
            "ConfigMap",
            "Job",
            "Role",
            "RoleBinding",
            "ServiceAccount",
        ]
        role = next(o for o in owned if o["kind"] == "Role")
        assert {(r["apiGroups"][0], r["resources"][0]) for r in role["rules"]} == {
            (n.group, n.resource) for n in rbac.WORKER
        }


def test_every_pod_template_is_locked_down(rendered):
    _, objs = rendered
    for job in (o for o in objs if o["kind"] == "Job"):
        pod = job["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}


def test_pipeline_steps_are_children_of_the_pipeline():
    objs = objects_of(os.path.join(ROOT, "examples", "many-models", "pipeline.yml"), "--datastore-root", "/data")
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert kinds[:3] == [
        ("PipelineJob", "many-models"),
        ("Job", "many-models-prepare"),
        ("ParallelJob", "many-models-train"),
    ]
    train = objs[2]
    assert train["metadata"]["annotations"]["pjob.dev/run-dir"] == "/data/runs/default/many-models"
    # the binding to the upstream output is replaced by the concrete datastore location
    assert train["spec"]["inputs"]["sales"]["path"] == "/data/runs/default/many-models/steps/prepare/outputs/sales"
    command = objs[1]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert command[:2] == ["agent", "--command-step"]
    assert "--output /data/runs/default/many-models/steps/prepare/outputs/sales" in command[2]


def test_render_of_a_bad_job_exits_2_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "type: parallel\ninputs: {d: {type: uri_folder, path: .}}\ninput_data: ${{inputs.nope}}\n"
        "task: {code: ., entry_script: s.py}\n"
    )
    (tmp_path / "s.py").write_text("def run(mb):\n    return mb\n")
    proc = render(str(bad))
    assert proc.returncode == 2
    assert "input_data" in proc.stderr and "nope" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["operator"], "pjob operator run | pjob operator render FILE"),
        (["agent"], "--coordinator kube://<namespace>/<job>"),
        (["agent", "--coordinator", "kube://Bad_NS/x", "--task", "t.json"], "bad coordinator URI"),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "pjob.cli", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
