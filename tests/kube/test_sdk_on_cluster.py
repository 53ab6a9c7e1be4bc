"""Azure ML notebooks and SDK v1 scripts with only their imports changed, submitting to the real
control plane: a `pjob-config.json` beside the notebook names the cluster (kubeconfig, namespace),
`MLClient.jobs.create_or_update` submits like `pjob submit`, `jobs.stream` follows the job to its
end, and the outputs are byte-identical to the same notebook run on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from operator_support import GROUP_VERSION, REPO, prepare_cluster, start_operator, wait_operator_watching

sys.path.insert(0, str(REPO / "tests" / "local"))
from test_sdk_notebooks import _project  # (the notebook with only its imports changed)


def _outputs(run: Path) -> dict[str, bytes]:
    found = [*run.glob("steps/*/outputs/**/*"), *run.glob("outputs/**/*")]
    return {str(p.relative_to(run)): p.read_bytes() for p in found if p.is_file()}


def _notebook(project: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "notebook.py"], cwd=project, capture_output=True, text=True, timeout=600, env=env
    )


def test_notebook_submits_to_the_cluster_and_matches_a_local_run(
    kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    root, operator_env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path)
    operator = start_operator(start_process, operator_env)
    wait_operator_watching(wait_for_request)
    user_env = {k: v for k, v in kube_env.items() if k not in ("PJOB_CONFIG", "PJOB_DATASTORE_ROOT")}
    user_env["PJOB_FOLLOW_SECONDS"] = "0.5"

    local = _project(tmp_path / "here")
    here = _notebook(local, user_env)
    assert here.returncode == 0, here.stdout + here.stderr
    [local_run] = [p for p in (local / "pjob-runs").iterdir() if not p.name.startswith(".")]

    remote = _project(tmp_path / "there")
    config = {"kubeconfig": str(kube_api.kubeconfig_path), "namespace": "default"}
    (remote / "pjob-config.json").write_text(json.dumps(config))
    there = _notebook(remote, user_env)
    assert there.returncode == 0, there.stdout + there.stderr + operator.log()[-3000:]
    assert "the Kubernetes cluster of context" in there.stdout, there.stdout  # compute.get describes the target
    assert "Status: Succeeded" in there.stdout, there.stdout
    assert not (remote / "pjob-runs").exists()  # nothing ran on this machine
    [name] = [line.split("RunId: ", 1)[1].strip() for line in there.stdout.splitlines() if "RunId: " in line]
    submitted = kube_api.get(GROUP_VERSION, "pipelinejobs", name, "default")
    assert submitted["spec"]["experiment_name"] == "pipeline_samples", submitted["spec"]
    expected = _outputs(local_run)
    got = _outputs(root / "runs" / "default" / name)
    assert expected and got == expected, (sorted(set(expected) ^ set(got)), sorted(map(str, root.rglob("*out_tab*"))))


def test_a_failed_cluster_job_makes_stream_raise_like_azure(
    kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    _root, operator_env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path)
    start_operator(start_process, operator_env)
    wait_operator_watching(wait_for_request)
    project = _project(tmp_path)
    script = project / "src" / "tabular_batch_inference.py"
    script.write_text(
        script.read_text().replace("def run(", "def run_was(")
        + "\ndef run(mini_batch):\n    raise RuntimeError('broken model')\n"
    )
    (project / "pjob-config.json").write_text(json.dumps({"kubeconfig": str(kube_api.kubeconfig_path)}))
    env = {k: v for k, v in kube_env.items() if k not in ("PJOB_CONFIG", "PJOB_DATASTORE_ROOT")}
    proc = _notebook(project, dict(env, PJOB_FOLLOW_SECONDS="0.5"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "JobException" in proc.stderr and "Status: Failed" in proc.stdout, proc.stdout + proc.stderr
