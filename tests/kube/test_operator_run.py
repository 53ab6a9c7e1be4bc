"""A ParallelJob end to end: the real operator, real `pjob agent` processes
in the stand-in kubelet's pods, the kube coordinator on the real API server, and
the same output bytes as `pjob run` of the same YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
from operator_support import (
    apply_cr,
    condition,
    copy_example,
    cr_for,
    finaliser_ran,
    prepare_cluster,
    run_local,
    start_operator,
    wait_operator_watching,
    wait_status,
    worker_pods,
    write_parallel_yaml,
)


@pytest.fixture
def world(kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path):
    """CRDs, a datastore folder, the operator running."""
    root, env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path)
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)

    class World:
        pass

    w = World()
    w.root, w.env, w.operator, w.api, w.kubelet = root, env, operator, kube_api, kubelet
    return w


def test_paralleljob_succeeds_with_the_same_output_bytes_as_pjob_run(world, tmp_path):
    example = copy_example("file-processing", world.root)
    yaml_path = write_parallel_yaml(example, instances=2)
    run_local(yaml_path, tmp_path / "local-runs")
    local_out = tmp_path / "local-runs" / "words" / "steps" / "words" / "outputs" / "counts" / "parallel_run_step.txt"

    apply_cr(world.api, cr_for(yaml_path, name="words"))
    status = wait_status(
        world.api,
        "paralleljobs",
        "words",
        lambda s: s.get("state") in ("Succeeded", "Failed"),
        world.operator,
        timeout=90,
    )
    assert status["state"] == "Succeeded", status
    assert condition(status, "Succeeded")["reason"] == "Completed"
    assert condition(status, "Running")["status"] == "False"
    assert status["miniBatches"] == {"total": 10, "done": 10, "failed": 0}
    assert status["items"] == {"succeeded": 40, "failed": 0}
    assert status["progress"] == "10/10" and status["completionTime"]
    out = Path(status["outputs"]["counts"]) / "parallel_run_step.txt"
    assert out.read_bytes() == local_out.read_bytes()
    assert len(out.read_text().splitlines()) == 40
    job_result = Path(status["logs"]) / "job_result.txt"
    assert "Succeeded" in job_result.read_text()
    pods = worker_pods(world.api, "words")
    assert sorted(p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] for p in pods) == ["0", "1"]
    assert all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert finaliser_ran(world.api, "words")  # the merge above was the finaliser pod's, not the operator's

    def events():  # posted after the status write, asynchronously
        return {
            e["reason"] for e in world.api.list("v1", "events", "default") if e["involvedObject"]["name"] == "words"
        }

    world.api.wait_for(
        lambda: {"SpecValid", "WorkersStarted", "Completed"} <= events(), timeout=20, message="an event per transition"
    )
    assert "Traceback" not in world.operator.log()
    # the CRD's printer columns, as `kubectl get` shows them (the real kubectl, server-side Table output)
    table = world.api.kubectl("get", "pj,plj", "-o", "wide").splitlines()
    assert table[0].split() == ["NAME", "STATUS", "PROGRESS", "FAILED", "AGE", "MESSAGE"]
    assert table[1].split()[:4] == ["paralleljob.pjob.dev/words", "Succeeded", "10/10", "0"], table


def test_a_hand_written_cr_with_datastore_uris_runs(world):
    """What `kubectl apply` of a CR looks like: absolute and azureml:// paths, no base-dir annotation."""
    import shutil

    from operator_support import REPO

    docs = world.root / "datastores" / "workspaceblobstore" / "corpus" / "docs"
    shutil.copytree(REPO / "examples" / "file-processing" / "docs", docs)
    code = world.root / "code" / "words"
    shutil.copytree(REPO / "examples" / "file-processing" / "code", code)
    apply_cr(
        world.api,
        {
            "apiVersion": "pjob.dev/v1alpha1",
            "kind": "ParallelJob",
            "metadata": {"name": "by-hand", "namespace": "default"},
            "spec": {
                "type": "parallel",
                "inputs": {
                    "docs": {"type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/corpus/docs"}
                },
                "outputs": {
                    "counts": {
                        "type": "uri_file",
                        "path": "azureml://datastores/workspaceblobstore/paths/results/counts.txt",
                    }
                },
                "input_data": "${{inputs.docs}}",
                "mini_batch_size": "8",
                "task": {"code": str(code), "entry_script": "count_words.py", "append_row_to": "${{outputs.counts}}"},
            },
        },
    )
    status = wait_status(
        world.api,
        "paralleljobs",
        "by-hand",
        lambda s: s.get("state") in ("Succeeded", "Failed"),
        world.operator,
        timeout=90,
    )
    assert status["state"] == "Succeeded", status
    out = world.root / "datastores" / "workspaceblobstore" / "results" / "counts.txt"
    assert status["outputs"] == {"counts": str(out)}
    assert len(out.read_text().splitlines()) == 40
    assert (world.root / "runs" / "default" / "by-hand" / "steps" / "by-hand" / "logs" / "job_result.txt").exists()
