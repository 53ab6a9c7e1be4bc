"""`pjob submit/status/cancel` against the real API server without an
operator: clear one-line errors when the CRDs are missing or RBAC forbids,
the kubeconfig context's namespace as default, and a submit whose local
inputs go to an object store (moto in server mode)."""

from __future__ import annotations

import subprocess
import sys

from operator_support import REPO, get_cr

AWS_SECRET = "moto-secret/never-printed-0123456789"


def pjob(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pjob.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_missing_crds_are_named_with_the_fix(kube_api, without_crds, kube_env):
    status = pjob(kube_env, "status", "anything")
    assert status.returncode == 1
    assert (
        status.stderr.startswith("error: the pjob CRDs (pjob.dev/v1alpha1) are not installed")
        and "helm install" in status.stderr
    )
    submit = pjob(kube_env, "submit", str(REPO / "examples" / "file-processing" / "pipeline.yml"))
    assert submit.returncode == 1 and "are not installed" in submit.stderr and len(submit.stderr.splitlines()) == 1


def test_forbidden_is_one_line_and_the_context_namespace_is_the_default(kube_api, apply_crds, kube_env):
    apply_crds()
    kube_api.enforce_rbac = True
    config = kube_api.kubeconfig_for("team-a", "nobody")  # a context whose namespace is team-a, no Role
    done = pjob(kube_env, "cancel", "some-job", "--kubeconfig", str(config))
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: forbidden: ") and "team-a" in line and "Traceback" not in done.stderr


def test_submit_with_an_object_store_datastore(kube_api, apply_crds, kube_env, tmp_path, s3_endpoint):
    import boto3

    apply_crds()
    endpoint = s3_endpoint
    env = {
        **kube_env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=AWS_SECRET,
    )
    s3.create_bucket(Bucket="store")
    job = str(REPO / "examples" / "file-processing" / "pipeline.yml")
    failed = pjob(env, "submit", job, "--name", "fp", "--datastore-root", "s3://testing:" + AWS_SECRET + "@store/pjob")
    assert (
        failed.returncode == 1
        and failed.stderr.startswith("error: cannot write ")
        and len(failed.stderr.splitlines()) == 1
    )
    assert AWS_SECRET not in failed.stdout + failed.stderr
    assert get_cr(kube_api, "pipelinejobs", "fp") is None  # nothing created when shipping failed
    done = pjob(env, "submit", job, "--name", "fp", "--datastore-root", "s3://store/pjob")
    assert done.returncode == 0, done.stderr
    assert AWS_SECRET not in done.stdout + done.stderr
    assert "to s3://store/pjob/runs/default/fp/shipped/docs" in done.stdout
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="store")["Contents"]]
    assert "pjob/runs/default/fp/shipped/docs/doc_000.txt" in keys
    cr = get_cr(kube_api, "pipelinejobs", "fp")
    docs = next(iter(cr["spec"]["jobs"].values()))["inputs"]
    assert any(
        isinstance(v, dict) and v.get("path", "").startswith("s3://")
        for v in list(docs.values()) + list((cr["spec"].get("inputs") or {}).values())
    )
    status = pjob(env, "status", "fp")
    assert (
        status.returncode == 0 and "PipelineJob default/fp" in status.stdout and "State:     Pending" in status.stdout
    )


def test_logs_read_the_datastore_through_a_local_root_or_say_where_they_are(kube_api, apply_crds, kube_env, tmp_path):
    """As on a real cluster whose datastore this machine does not mount (the kind e2e):
    the pods' paths are not local; `pjob logs` still says how the job ended."""
    from kubernetes import client as kclient

    apply_crds()
    done = pjob(kube_env, "submit", str(REPO / "examples" / "many-models" / "pipeline.yml"), "--name", "mm")
    assert done.returncode == 0, done.stderr
    status = {
        "state": "Succeeded",
        "progress": "2/2",
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "StepsSucceeded",
                "message": "all 2 steps succeeded",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "steps": {
            "prepare": {"state": "Succeeded", "kind": "command", "child": "mm-prepare"},
            "train": {"state": "Succeeded", "kind": "parallel", "child": "mm-train"},
        },
    }
    with kube_api.client() as api:
        kclient.CustomObjectsApi(api).patch_namespaced_custom_object_status(
            "pjob.dev", "v1alpha1", "default", "pipelinejobs", "mm", {"status": status}
        )
    far = pjob(kube_env, "logs", "mm")
    assert far.returncode == 0, far.stderr
    assert "PipelineJob mm: Succeeded - all 2 steps succeeded" in far.stdout
    assert "runs/default/mm/steps/train/logs on the datastore, not reachable from here" in far.stderr
    root = tmp_path / "mounted"
    logs = root / "runs" / "default" / "mm" / "steps" / "train" / "logs"
    logs.mkdir(parents=True)
    (logs / "job_result.txt").write_text("train: Succeeded\n")
    near = pjob(kube_env, "logs", "mm", "--step", "train", "--datastore-root", str(root))
    assert near.returncode == 0 and near.stdout == "train: Succeeded\n", near.stderr
    one = pjob(kube_env, "logs", "mm", "--step", "train", "--mini-batch", "0", "--datastore-root", str(root))
    assert one.returncode == 1 and one.stderr.startswith("error: no record of mini-batch 0 under ")
