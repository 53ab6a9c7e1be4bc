"""Worker pods of steps asking for GPUs (``pjob.dev/gpus-per-instance``) and
of steps with a conda file when the chart enables ``worker.pipFromCondaFile``:
the chart's config survives ``OperatorConfig.from_dict``, the pods are valid
API objects, and the inline-conda wrapper really writes the file it hands on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pjob.engine.task import ParallelTask
from pjob.kube import builders, jobspec, pod_options
from pjob.kube import constants as c
from pjob.kube.config import OperatorConfig
from pjob.spec import errors, load, models, resolve

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy"))
import chart_render
from kube_wrappers import PIPELINE_CR as PIPELINE
from kube_wrappers import SCORE_CR as CR
from kube_wrappers import mounted_task

GPU = {
    "resourceName": "amd.com/gpu",
    "nodeSelector": {"accelerator": "mi300"},
    "tolerations": [{"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}


def task(gpus: int = 0, conda=None) -> ParallelTask:
    t = mounted_task(instance_count=2, gpus=gpus)
    if conda is not None:
        t.conda_file = conda
    return t


def config(**worker) -> OperatorConfig:
    return OperatorConfig.from_dict({"worker": worker})


def pod_of(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


def test_from_dict_keeps_gpu_and_pip_settings_filling_missing_keys():
    cfg = config(
        gpu={"resourceName": "amd.com/gpu"},
        pipFromCondaFile={"enabled": True, "cachePath": "/cache"},
        nodeSelector={"pool": "batch"},
    )
    assert cfg.worker["gpu"] == {"resourceName": "amd.com/gpu", "nodeSelector": {}, "tolerations": []}
    assert cfg.worker["pipFromCondaFile"] == {"enabled": True, "command": "pjob-pip-env", "cachePath": "/cache"}
    assert OperatorConfig().worker["pipFromCondaFile"]["enabled"] is False


def test_gpu_step_gets_the_resource_node_selector_and_tolerations():
    cfg = config(gpu=GPU, nodeSelector={"pool": "batch"}, tolerations=[{"key": "batch", "operator": "Exists"}])
    job = builders.build_worker_job(CR, task(gpus=2), cfg)
    pod = pod_of(job)
    assert pod["containers"][0]["resources"]["limits"]["amd.com/gpu"] == "2"
    assert pod["containers"][0]["resources"]["limits"]["memory"] == "4Gi"  # the chart's limits stay
    assert pod["nodeSelector"] == {"pool": "batch", "accelerator": "mi300"}
    assert pod["tolerations"] == [{"key": "batch", "operator": "Exists"}] + GPU["tolerations"]
    typed = chart_render.strict_roundtrip(job, "V1Job")
    assert chart_render.diff_paths(job, typed) == []


def test_cpu_step_gets_no_gpu_settings():
    pod = pod_of(builders.build_worker_job(CR, task(gpus=0), config(gpu=GPU)))
    assert "amd.com/gpu" not in pod["containers"][0]["resources"].get("limits", {})
    assert "nodeSelector" not in pod and "tolerations" not in pod


def test_gpu_request_follows_the_limit_when_the_chart_requests_gpus():
    cfg = config(gpu=GPU, resources={"requests": {"amd.com/gpu": "1"}, "limits": {"amd.com/gpu": "1"}})
    resources = pod_of(builders.build_worker_job(CR, task(gpus=4), cfg))["containers"][0]["resources"]
    assert resources == {"requests": {"amd.com/gpu": "4"}, "limits": {"amd.com/gpu": "4"}}


@pytest.mark.parametrize(
    "notes,step,expected",
    [
        ({}, None, 0),
        ({c.ANNOTATION_GPUS: "2"}, None, 2),
        ({c.ANNOTATION_GPUS: " 1 "}, None, 1),
        ({c.ANNOTATION_GPUS: "2", f"{c.ANNOTATION_GPUS}.train": "0"}, "train", 0),
        ({c.ANNOTATION_GPUS: "2", f"{c.ANNOTATION_GPUS}.train": "4"}, "prep", 2),
    ],
)
def test_gpus_per_instance_annotation(notes, step, expected):
    assert jobspec.gpus_per_instance({"metadata": {"name": "x", "annotations": notes}}, step) == expected


@pytest.mark.parametrize("raw", ["two", "-1", "1.5", ""])
def test_bad_gpu_annotation_is_a_user_error_naming_the_annotation(raw):
    with pytest.raises(errors.UserError, match=r"gpus-per-instance.*whole number"):
        jobspec.gpus_per_instance({"metadata": {"name": "x", "annotations": {c.ANNOTATION_GPUS: raw}}})


def test_pip_env_wraps_the_agent_and_mounts_a_cache_when_the_chart_does_not():
    cfg = config(pipFromCondaFile={"enabled": True, "cachePath": "/var/cache/pip"})
    job = builders.build_worker_job(CR, task(conda="/mnt/pjob/code/env.yml"), cfg)
    pod = pod_of(job)
    (container,) = pod["containers"]
    assert container["command"] == [
        "pjob-pip-env",
        "--conda-file",
        "/mnt/pjob/code/env.yml",
        "--cache",
        "/var/cache/pip",
        "--",
        "pjob",
    ]
    assert container["args"] == builders.agent_args(CR)
    assert {"name": "pip-cache", "mountPath": "/var/cache/pip"} in container["volumeMounts"]
    assert {"name": "pip-cache", "emptyDir": {}} in pod["volumes"]
    typed = chart_render.strict_roundtrip(job, "V1Job")
    assert chart_render.diff_paths(job, typed) == []


@pytest.mark.parametrize("enabled,conda", [(False, "/mnt/pjob/env.yml"), (True, None)])
def test_no_wrapper_when_disabled_or_without_conda_file(enabled, conda):
    pod = pod_of(builders.build_worker_job(CR, task(conda=conda), config(pipFromCondaFile={"enabled": enabled})))
    assert "command" not in pod["containers"][0]
    assert all(v["name"] != "pip-cache" for v in pod["volumes"])


def test_chart_with_pip_enabled_mounts_its_cache_once():
    objs = chart_render.objects(chart_render.render({"worker": {"pipFromCondaFile": {"enabled": True}}}))
    cfg = OperatorConfig.from_dict(chart_render.operator_config(objs))
    assert cfg.worker["pipFromCondaFile"]["enabled"] is True
    assert cfg.worker["gpu"]["resourceName"] == "nvidia.com/gpu"
    (container,) = pod_of(builders.build_worker_job(CR, task(conda="/mnt/pjob/env.yml"), cfg))["containers"]
    cache = cfg.worker["pipFromCondaFile"]["cachePath"]
    assert [m["mountPath"] for m in container["volumeMounts"]].count(cache) == 1
    assert container["command"][-4:] == ["--cache", cache, "--", "pjob"]


def test_inline_conda_mapping_is_written_to_tmpdir_and_handed_to_the_wrapper(tmp_path):
    """Run the container's command for real, with a stand-in pjob-pip-env that reports what it got."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'file': os.environ['PJOB_CONDA_FILE'],\n"
        "                  'text': open(os.environ['PJOB_CONDA_FILE']).read()}))\n"
    )
    inline = {"name": "env", "dependencies": ["python=3.11", {"pip": ["tqdm==4.66.1"]}]}
    cfg = config(pipFromCondaFile={"enabled": True, "command": f"{sys.executable} {probe}"})
    (container,) = pod_of(builders.build_worker_job(CR, task(conda=inline), cfg))["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    done = subprocess.run(
        container["command"] + container["args"],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            "PATH": os.environ["PATH"],
            "TMPDIR": str(tmp_path),
            pod_options.INLINE_CONDA_ENV: env[pod_options.INLINE_CONDA_ENV],
        },
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["file"] == str(tmp_path / "pjob-conda.yml")
    import yaml

    assert yaml.safe_load(seen["text"]) == inline
    assert seen["argv"] == ["--cache", "/var/cache/pjob-pip", "--", "pjob"] + builders.agent_args(CR)


def test_command_step_job_takes_gpus_and_the_wrapper():
    cfg = config(gpu=GPU, pipFromCondaFile={"enabled": True})
    step = models.CommandStep(command="python train.py")
    resolved = resolve.ResolvedStep("train", "command", {}, {}, {}, command="python train.py", code_dir="/mnt/pjob/c")
    job = builders.build_command_job(
        PIPELINE, "train", step, resolved, "/mnt/pjob/runs/x/steps/train", cfg, gpus=1, conda_file="/mnt/pjob/c/env.yml"
    )
    (container,) = pod_of(job)["containers"]
    assert container["resources"]["limits"]["amd.com/gpu"] == "1"
    assert container["command"][:3] == ["pjob-pip-env", "--conda-file", "/mnt/pjob/c/env.yml"]
    assert container["args"][:2] == ["agent", "--command-step"]


def _pipeline(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "s.py").write_text("def run(mb):\n    return mb\n")
    (tmp_path / "comp").mkdir()
    (tmp_path / "comp" / "prep.yml").write_text(
        "command: echo hi\nenvironment:\n  image: x\n  conda_file: env/conda.yml\n"
    )
    data = {
        "type": "pipeline",
        "jobs": {
            "prep": {"type": "command", "component": "comp/prep.yml"},
            "score": {
                "type": "parallel",
                "inputs": {"d": {"type": "uri_folder", "path": "/mnt/pjob/in"}},
                "outputs": {"o": {"type": "uri_file"}},
                "input_data": "${{inputs.d}}",
                "task": {
                    "code": "code",
                    "entry_script": "s.py",
                    "append_row_to": "${{outputs.o}}",
                    "environment": {"image": "x", "conda_file": "envs/score.yml"},
                },
            },
        },
    }
    return load.load_data(data, str(tmp_path / "p.yml"), {})


def test_pipeline_children_carry_gpus_and_absolute_conda_files(tmp_path):
    loaded = _pipeline(tmp_path)
    assert not loaded.problems, loaded.problems
    notes = {c.ANNOTATION_BASE_DIR: str(tmp_path), c.ANNOTATION_GPUS: "1", f"{c.ANNOTATION_GPUS}.prep": "0"}
    body = {**PIPELINE, "metadata": {**PIPELINE["metadata"], "annotations": notes}}
    cfg = OperatorConfig.from_dict({"worker": {"pipFromCondaFile": {"enabled": True}}})
    steps = {s.name: s.child for s in jobspec.pipeline_steps(body, loaded, cfg)}
    (prep,) = pod_of(steps["prep"])["containers"]
    assert "nvidia.com/gpu" not in prep["resources"].get("limits", {})
    assert prep["command"][:3] == ["pjob-pip-env", "--conda-file", str(tmp_path / "comp" / "env" / "conda.yml")]
    child = steps["score"]
    assert child["metadata"]["annotations"][c.ANNOTATION_GPUS] == "1"
    assert child["spec"]["task"]["environment"]["conda_file"] == str(tmp_path / "envs" / "score.yml")
    # the child ParallelJob's own task: GPUs and the conda file reach its worker pods
    child_loaded = jobspec.load_cr(child, cfg, check_files=False)
    assert not child_loaded.problems
    t = jobspec.parallel_task(child, child_loaded, cfg)
    assert t.gpus == 1 and t.conda_file == str(tmp_path / "envs" / "score.yml")
    (agent,) = pod_of(builders.build_worker_job(child, t, cfg))["containers"]
    assert agent["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert agent["command"][2] == str(tmp_path / "envs" / "score.yml")
