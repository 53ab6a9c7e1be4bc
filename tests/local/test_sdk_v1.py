"""An Azure ML SDK v1 ParallelRunStep script runs locally with only its
import lines changed (azureml.* -> pjob.sdk.v1), through a real Python
process: workspace, datastore upload, file and tabular datasets, side inputs,
arguments, append_row_file_name, Experiment.submit, wait_for_completion and
downloading a step's output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import yaml
from pjobrun import ROOT

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "sdk-v1")


def change_imports(text: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        new = re.sub(r"^from azureml(\.[A-Za-z_.]+)? import ", "from pjob.sdk.v1 import ", line)
        assert new == line or line.startswith("from azureml"), line
        out.append(new)
    return "".join(out)


def _run(tmp_path):
    project = tmp_path / "v1"
    shutil.copytree(FIXTURE, project)
    original = (project / "v1_pipeline.py").read_text()
    (project / "v1_pipeline.py").write_text(change_imports(original))
    changed = [
        a for a, b in zip(original.splitlines(), (project / "v1_pipeline.py").read_text().splitlines()) if a != b
    ]
    assert len(changed) == 6 and all(line.startswith("from azureml") for line in changed)
    proc = subprocess.run([sys.executable, "v1_pipeline.py"], cwd=project, capture_output=True, text=True, timeout=240)
    return project, proc


def test_v1_parallel_run_step_script_runs_with_only_its_imports_changed(tmp_path):
    project, proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PipelineRun Status: Succeeded" in proc.stdout and "digit results: 12" in proc.stdout
    runs = project / "pjob-runs"
    [run] = [p for p in runs.iterdir() if p.name == "digit_identification"]
    spec = yaml.safe_load((run / "spec.yaml").read_text())
    assert spec["experiment_name"] == "digit_identification" and spec["tags"] == {"sdk": "v1"}
    digits = spec["jobs"]["predict_digits_mnist"]
    # the v1 -> v2 mapping, as docs/sdk.md tables it
    assert digits["display_name"] == "predict-digits-mnist"
    assert (digits["mini_batch_size"], digits["error_threshold"], digits["mini_batch_error_threshold"]) == ("5", 10, 2)
    assert (digits["max_concurrency_per_instance"], digits["resources"]["instance_count"]) == (2, 2)
    assert digits["retry_settings"] == {"max_retries": 2, "timeout": 600}
    assert "--allowed_failed_percent 50" in digits["task"]["program_arguments"]
    assert "--model_dir ${{inputs.model_input}}" in digits["task"]["program_arguments"]
    out = (
        runs
        / "datastores"
        / "workspaceblobstore"
        / "azureml"
        / "digit_identification"
        / "inferences"
        / "mnist_outputs.txt"
    )
    lines = out.read_text().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [f"digit_{i:02d}.txt" for i in range(12)]
    iris = (project / "inference_results" / "iris_inferences" / "parallel_run_step.txt").read_text().splitlines()
    assert len(iris) == 30 and all(len(row.split(" ")) == 2 for row in iris)


def test_a_failing_v1_step_fails_wait_for_completion(tmp_path):
    project = tmp_path / "broken"
    shutil.copytree(FIXTURE, project)
    script = project / "scripts" / "digit_identification.py"
    script.write_text(script.read_text() + "\n\ndef run(mini_batch):\n    raise ValueError('no model')\n")
    (project / "v1_pipeline.py").write_text(change_imports((project / "v1_pipeline.py").read_text()))
    proc = subprocess.run([sys.executable, "v1_pipeline.py"], cwd=project, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1
    assert "PipelineRun Status: Failed" in proc.stdout and "pipeline run digit_identification failed" in proc.stderr
