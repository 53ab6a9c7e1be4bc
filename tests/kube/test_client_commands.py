"""`pjob submit / status / logs / cancel` as real CLI subprocesses against
the real API server (KUBECONFIG pointing at it), with the real operator and
the stand-in kubelet running the jobs. The job folders live outside the datastore:
what the pods run is only what `pjob submit` shipped."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from operator_support import (
    REPO,
    get_cr,
    prepare_cluster,
    run_local,
    start_operator,
    wait_operator_watching,
    wait_status,
    write_parallel_yaml,
)

SECRET_VALUE = "s3cr3t-Value-that-must-never-print"
AWS_SECRET = "AKIAFAKE/aws-secret-key-never-printed"


@pytest.fixture
def world(kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path):
    root, env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path)
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)
    # a credential in the cluster and in the client's environment: no command may print either
    kube_api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "store-creds", "namespace": "default"},
            "data": {"AWS_SECRET_ACCESS_KEY": base64.b64encode(SECRET_VALUE.encode()).decode()},
        }
    )
    client_env = {**kube_env, "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "PJOB_FOLLOW_SECONDS": "0.3"}
    client_env.pop("PJOB_DATASTORE_ROOT", None)

    class World:
        outputs: list[str] = []

        def pjob(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
            done = subprocess.run(
                [sys.executable, "-m", "pjob.cli", *args], capture_output=True, text=True, env=client_env, timeout=120
            )
            self.outputs.append(done.stdout + done.stderr)
            if check:
                assert done.returncode == 0, f"pjob {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
            return done

    w = World()
    w.root, w.api, w.operator = root, kube_api, operator
    yield w
    for text in w.outputs:
        assert SECRET_VALUE not in text and AWS_SECRET not in text


def _job_folder(tmp_path: Path, example: str) -> Path:
    dest = tmp_path / "mine" / example  # on this machine only, not on the datastore
    shutil.copytree(REPO / "examples" / example, dest)
    return dest


def test_submit_ships_code_and_inputs_as_configmaps_then_status_logs_cancel(world, tmp_path):
    folder = _job_folder(tmp_path, "file-processing")
    yaml_path = write_parallel_yaml(folder, instances=2)
    run_local(yaml_path, tmp_path / "local-runs")
    local_out = tmp_path / "local-runs" / "words" / "steps" / "words" / "outputs" / "counts" / "parallel_run_step.txt"

    done = world.pjob("submit", str(yaml_path), "-n", "default", "--name", "words")
    assert "paralleljob.pjob.dev/words created" in done.stdout
    shipped = [
        cm
        for cm in world.api.list("v1", "configmaps", "default")
        if cm["metadata"].get("labels", {}).get("pjob.dev/role") == "shipped"
    ]
    assert sorted(cm["metadata"]["annotations"]["pjob.dev/shipped-path"] for cm in shipped) == ["code", "docs"]
    cr = get_cr(world.api, "paralleljobs", "words")
    assert cr["metadata"]["annotations"]["pjob.dev/base-dir"] == "runs/default/words/shipped"
    assert all(cm["metadata"]["ownerReferences"][0]["uid"] == cr["metadata"]["uid"] for cm in shipped)

    done = world.pjob("logs", "words", "-n", "default", "--follow")  # waits for the end
    status = get_cr(world.api, "paralleljobs", "words")["status"]
    assert status["state"] == "Succeeded", status
    assert "Succeeded" in done.stdout and "mini-batches" in done.stderr
    assert (Path(status["outputs"]["counts"]) / "parallel_run_step.txt").read_bytes() == local_out.read_bytes()
    assert (world.root / "runs" / "default" / "words" / "shipped" / "code" / "count_words.py").is_file()

    status_text = world.pjob("status", "words", "-n", "default").stdout
    assert "State:     Succeeded" in status_text
    assert "10/10 mini-batches done, 0 failed; items 40 succeeded, 0 failed" in status_text
    assert "Succeeded  True    Completed" in status_text
    world.api.wait_for(
        lambda: "Completed" in world.pjob("status", "words").stdout.split("Events:")[-1],
        timeout=20,
        message="the Completed event in pjob status",
    )

    one = world.pjob("logs", "words", "--mini-batch", "3").stdout
    assert "attempt 1: RUN_DONE 4/4 items" in one
    assert "mini-batch 3 attempt 1: RUN_DONE" in one and "mini-batch 4 " not in one

    done = world.pjob("cancel", "words", "-n", "default")
    assert "paralleljob.pjob.dev/words deleted (was Succeeded)" in done.stdout
    assert get_cr(world.api, "paralleljobs", "words") is None
    world.api.wait_for(
        lambda: (
            not [
                cm
                for cm in world.api.list("v1", "configmaps", "default")
                if cm["metadata"]["name"].startswith("words-")
            ]
        ),
        timeout=60,  # kube-controller-manager's garbage collector, on a loaded CI machine: its pace, not ours
        message="shipped and operator ConfigMaps garbage-collected",
    )
    gone = world.pjob("cancel", "words", "-n", "default", check=False)
    assert gone.returncode == 1 and gone.stderr.strip().splitlines() == [
        "error: no ParallelJob or PipelineJob named 'words' in namespace 'default'"
    ]


def test_pipeline_with_inputs_on_a_shared_datastore_folder(world, tmp_path):
    folder = _job_folder(tmp_path, "batch-scoring")
    done = world.pjob("submit", str(folder / "pipeline.yml"), "--datastore-root", str(world.root))
    name = done.stdout.split("pipelinejob.pjob.dev/")[1].split()[0]
    assert name.startswith("batch-scoring-")
    # inputs went to the shared folder, the code in a ConfigMap
    assert (world.root / "runs" / "default" / name / "shipped" / "iris-mltable" / "MLTable").is_file()
    assert (
        f"shipped {folder / 'script'} as ConfigMap" not in done.stdout and "shipped script as ConfigMap" in done.stdout
    )
    status = wait_status(
        world.api, "pipelinejobs", name, lambda s: s.get("state") in ("Succeeded", "Failed"), world.operator, timeout=60
    )
    assert status["state"] == "Succeeded", status
    text = world.pjob("status", name).stdout
    assert f"PipelineJob default/{name}" in text and "score  parallel  Succeeded" in text
    logs = world.pjob("logs", name, "--step", "score", "--datastore-root", str(world.root)).stdout
    assert "Succeeded" in logs
    bad = world.pjob("logs", name, "--step", "nope", check=False)
    assert bad.returncode == 2 and "no step 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_errors_are_one_line(world, tmp_path):
    missing = world.pjob("status", "nothing-here", check=False)
    assert (
        missing.returncode == 1
        and missing.stderr == "error: no ParallelJob or PipelineJob named 'nothing-here' in namespace 'default'\n"
    )
    bad_yaml = tmp_path / "bad.yml"
    bad_yaml.write_text("type: parallel\ntask: {code: ./nowhere, entry_script: x.py}\n")
    invalid = world.pjob("submit", str(bad_yaml), check=False)
    assert invalid.returncode == 2 and "Traceback" not in invalid.stderr and invalid.stderr.startswith("error: ")
    unreachable = tmp_path / "kubeconfig-dead"
    unreachable.write_text(world.api.kubeconfig_path.read_text().replace(world.api.url, "http://127.0.0.1:9"))
    dead = world.pjob("status", "x", "--kubeconfig", str(unreachable), check=False)
    assert (
        dead.returncode == 1
        and dead.stderr.startswith("error: cannot reach the cluster")
        and len(dead.stderr.splitlines()) == 1
    )
    nocfg = world.pjob("status", "x", "--kubeconfig", str(tmp_path / "none"), check=False)
    assert nocfg.returncode == 2 and "kubeconfig" in nocfg.stderr and "Traceback" not in nocfg.stderr
