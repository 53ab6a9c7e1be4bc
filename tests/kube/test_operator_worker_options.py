"""Worker-pod options of the chart, end to end on the stand-in kubelet: a
ParallelJob with ``pjob.dev/gpus-per-instance`` and an ``environment.conda_file``
runs with the chart's ``worker.pipFromCondaFile`` enabled: the real
``pjob-pip-env`` (worker_image/pjob_pip_env.py) installs the conda file's pip
entry (a local wheel, no network) into the mounted cache, then execs the real
``pjob agent``; every worker process sees its own CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
from operator_support import (
    REPO,
    apply_cr,
    cr_for,
    prepare_cluster,
    start_operator,
    wait_operator_watching,
    wait_status,
    worker_pods,
    write_operator_config,
)

SCRIPT = """\
import os

import tinypkg


def init():
    pass


def run(mini_batch, mini_batch_context):
    return [f"{os.path.basename(p)} {tinypkg.VALUE} gpu={os.environ.get('CUDA_VISIBLE_DEVICES')}" for p in mini_batch]
"""


def write_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (a zip with a module and dist-info), so pip installs it offline."""
    folder.mkdir(parents=True)
    path = folder / "tinypkg-1.0-py3-none-any.whl"
    info = "tinypkg-1.0.dist-info"
    files = {
        "tinypkg.py": "VALUE = 'from-the-wheel'\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def write_project(root: Path) -> Path:
    project = root / "shipped" / "gpu"
    (project / "code").mkdir(parents=True)
    (project / "code" / "score.py").write_text(SCRIPT)
    (project / "docs").mkdir()
    for i in range(6):
        (project / "docs" / f"d{i}.txt").write_text(f"doc {i}\n")
    write_wheel(project / "env" / "wheels")
    (project / "env" / "conda.yml").write_text(
        "name: gpu\ndependencies:\n  - python=3.11\n  - pip:\n    - ./wheels/tinypkg-1.0-py3-none-any.whl\n"
    )
    path = project / "job.yml"
    path.write_text("""\
type: parallel
name: gpu
inputs:
  docs: {type: uri_folder, path: ./docs}
outputs:
  out: {type: uri_folder}
input_data: ${{inputs.docs}}
mini_batch_size: "1"
max_concurrency_per_instance: 2
resources: {instance_count: 1, instance_type: Standard_NC24ads_A100_v4}
retry_settings: {max_retries: 0, timeout: 60}
task:
  type: run_function
  code: ./code
  entry_script: score.py
  append_row_to: ${{outputs.out}}
  environment: {image: "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04", conda_file: ./env/conda.yml}
""")
    return path


def write_config(root: Path, path: Path) -> Path:
    """The shared test config plus GPUs and pip-from-conda (installed offline)."""
    return write_operator_config(
        root,
        path,
        extra_env=[{"name": "PJOB_PIP_EXTRA_ARGS", "value": "--no-index"}],
        gpu={
            "resourceName": "nvidia.com/gpu",
            "nodeSelector": {"gpu": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
        pipFromCondaFile={
            "enabled": True,
            "cachePath": "/scratch/pip-cache",
            "command": f"{sys.executable} {REPO / 'worker_image' / 'pjob_pip_env.py'}",
        },
    )


def test_gpu_step_with_conda_file_installs_its_pip_entries_and_pins_a_gpu_per_worker(
    kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    root, env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path, write_config)
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)
    cr = cr_for(write_project(root), name="gpu")
    cr["metadata"]["annotations"]["pjob.dev/gpus-per-instance"] = "2"
    apply_cr(kube_api, cr)
    status = wait_status(
        kube_api, "paralleljobs", "gpu", lambda s: s.get("state") in ("Succeeded", "Failed"), operator, timeout=90
    )
    (pod,) = worker_pods(kube_api, "gpu")
    log = kubelet.log_path("default", pod["metadata"]["name"]).read_text(errors="replace")
    assert status["state"] == "Succeeded", (status, log[-3000:])
    spec = pod["spec"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert spec["nodeSelector"] == {"gpu": "true"} and spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "pjob-pip-env: installing 1 pip entry" in log
    lines = (Path(status["outputs"]["out"]) / "parallel_run_step.txt").read_text().splitlines()
    assert len(lines) == 6 and all(" from-the-wheel gpu=" in line for line in lines)
    assert {line.rsplit("gpu=", 1)[1] for line in lines} <= {"0", "1"}
    # the install went to the mounted cache (the pod's emptyDir), not into the image
    cache = next(Path(p) for p in (kubelet.workdir / "pods").glob("*/volumes/pip-cache"))
    assert list(cache.glob("*/tinypkg.py"))


def test_default_concurrency_follows_the_pods_cpu_limit_not_the_nodes_cores(
    kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    """Without max_concurrency_per_instance an agent starts one worker per CPU of its pod's limit: the
    stand-in kubelet puts the pod in a cgroup with that quota, mounted where the pod looks for it."""
    import os

    from operator_support import copy_example

    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs a machine with more cores than the pod's limit of 1")

    def config(root, path):
        return write_operator_config(
            root,
            path,
            resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        )

    root, env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path, config)
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)
    example = copy_example("file-processing", root)
    job = example / "default-concurrency.yml"
    job.write_text((example / "pipeline.yml").read_text())
    cr = cr_for(job, name="limited")
    step = cr["spec"]["jobs"]["count_words"]
    step.pop("max_concurrency_per_instance", None)
    cr = {
        "apiVersion": cr["apiVersion"],
        "kind": "ParallelJob",
        "metadata": {"name": "limited", "namespace": "default", "annotations": cr["metadata"]["annotations"]},
        "spec": step,
    }
    apply_cr(kube_api, cr)
    status = wait_status(
        kube_api, "paralleljobs", "limited", lambda s: s.get("state") in ("Succeeded", "Failed"), operator, timeout=120
    )
    assert status["state"] == "Succeeded", status
    (pod,) = worker_pods(kube_api, "limited")
    assert pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"
    started = [
        line
        for path in Path(status["logs"]).rglob("*.txt")
        for line in path.read_text().splitlines()
        if "agent started:" in line
    ]
    assert started and all("agent started: 1 worker(s)" in line for line in started), started
