"""examples/sdk-pipeline: Azure's parallel-nodes sample with pjob.sdk imports
builds exactly the job of its YAML twin, dumps YAML that `pjob validate`
accepts and that loads back equal, and runs locally to the same outputs as
the twin run through `pjob run`."""

import contextlib
import io
import os
import runpy
import subprocess
import sys

import pytest
from pjob.sdk import run_local
from pjob.spec import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "sdk-pipeline")


def run_pjob(*args, timeout=240):
    """The real `pjob` CLI as a process (not imported from conftest: several conftest modules exist)."""
    return subprocess.run(
        [sys.executable, "-m", "pjob.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


@contextlib.contextmanager
def _in_example():
    before = os.getcwd()
    os.chdir(EXAMPLE)  # the sample's relative paths are relative to the cwd, as in Azure
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def sdk_job():
    with _in_example():
        return runpy.run_path("pipeline.py")["pipeline_job"]


def test_python_and_yaml_build_the_same_model(sdk_job):
    twin = load.load_job(os.path.join(EXAMPLE, "pipeline.yml"))
    assert not twin.problems
    assert sdk_job.to_model(EXAMPLE) == twin.job
    assert list(sdk_job.jobs) == [
        "prepare_file_tabular_data",
        "batch_inference_with_file_data",
        "batch_inference_with_tabular_data",
    ]


def test_script_dump_validates_and_loads_back_equal(sdk_job, tmp_path):
    dumped = tmp_path / "job.yml"
    proc = subprocess.run(
        [sys.executable, "pipeline.py", "--dump", str(dumped)], cwd=EXAMPLE, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    check = run_pjob("validate", dumped)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "valid pipeline 'parallel_in_pipeline' with 3 step(s)" in check.stdout
    assert load.load_job(str(dumped)).job == sdk_job.to_model(str(tmp_path))


def _user_errors(run_dir):
    """The tracebacks a failed run left (for the assertion message)."""
    import glob

    found = sorted(glob.glob(os.path.join(run_dir, "steps", "*", "logs", "user", "error", "*", "*.txt")))
    return "".join(f"\n--- {path}\n{open(path).read()[-3000:]}" for path in found[:3])


def _nearest(model, row):
    return min(
        model["centroids"],
        key=lambda n: sum((float(row[f]) - c) ** 2 for f, c in zip(model["features"], model["centroids"][n])),
    )


def test_runs_locally_to_the_same_outputs_as_the_yaml_twin(sdk_job, tmp_path):
    import csv
    import json

    result = run_local(sdk_job, runs_dir=str(tmp_path / "sdk"))
    assert result.status == "Succeeded", result.job_result + _user_errors(result.run_dir)
    assert (
        "batch_inference_with_file_data: Succeeded" in result.job_result and "5 total, 5 succeeded" in result.job_result
    )
    proc = run_pjob("run", os.path.join(EXAMPLE, "pipeline.yml"), "--runs-dir", tmp_path / "yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yaml_out = tmp_path / "yaml" / "parallel_in_pipeline" / "outputs"  # pipeline-level outputs

    files = result.outputs["pipeline_job_out_file"]
    names = sorted(os.listdir(files))
    assert names == [f"digit_{i}.txt.summary" for i in range(5)]
    assert names == sorted(os.listdir(yaml_out / "pipeline_job_out_file"))
    for name in names:
        assert open(os.path.join(files, name)).read() == (yaml_out / "pipeline_job_out_file" / name).read_text()

    scored = open(result.outputs["pipeline_job_out_tabular"]).read()
    assert scored == (yaml_out / "pipeline_job_out_tabular").read_text()
    model = json.load(open(os.path.join(EXAMPLE, "model", "iris_model", "model.json")))
    rows = list(csv.DictReader(open(os.path.join(EXAMPLE, "dataset", "iris.csv"))))
    expected = [
        " ".join([r["sepal_length"], r["sepal_width"], r["petal_length"], r["petal_width"], _nearest(model, r)])
        for r in rows
    ]
    assert scored.splitlines() == expected  # every row once, in input order
    assert result.outputs["prepare_file_tabular_data.file_output_data"].endswith(
        os.path.join("prepare_file_tabular_data", "outputs", "file_output_data")
    )
