"""Every example in examples/ runs through the real `pjob run` and produces the
right output (checked against an independent computation, in order)."""

import csv
import glob
import json
import os

import pytest
from pjobrun import ROOT, run_pjob

EXAMPLES = os.path.join(ROOT, "examples")


def _run(name, tmp_path, *extra):
    proc = run_pjob("run", os.path.join(EXAMPLES, name, "pipeline.yml"), "--runs-dir", tmp_path / "runs", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / "runs" / name


def test_every_example_has_a_test():
    tested = {"batch-scoring", "file-processing", "many-models", "sdk-pipeline"}
    found = {os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(EXAMPLES, "*", "*.*"))}
    assert found <= tested, f"examples without a test: {found - tested}"


def test_file_processing(tmp_path):
    run = _run("file-processing", tmp_path)
    docs = sorted(glob.glob(os.path.join(EXAMPLES, "file-processing", "docs", "*.txt")))
    expected = "".join(f"{os.path.basename(p)} {len(open(p).read().split())}\n" for p in docs)
    out = run / "steps" / "count_words" / "outputs" / "counts" / "parallel_run_step.txt"
    assert out.read_text() == expected
    report = list(
        csv.reader(open(run / "steps" / "count_words" / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"))
    )
    assert len(report) - 1 == 10  # one row per attempt, 40 files / 4 per mini-batch
    assert "Succeeded" in (run / "steps" / "count_words" / "logs" / "job_result.txt").read_text()


def _nearest_centroid(model, row):
    best = min(model["centroids"], key=lambda n: sum((a - b) ** 2 for a, b in zip(row, model["centroids"][n])))
    return best


def test_batch_scoring(tmp_path):
    run = _run("batch-scoring", tmp_path)
    model = json.load(open(os.path.join(EXAMPLES, "batch-scoring", "iris-model", "model.json")))
    rows = list(csv.DictReader(open(os.path.join(EXAMPLES, "batch-scoring", "iris-mltable", "iris.csv"))))
    expected = ["prediction"] + [_nearest_centroid(model, [float(r[f]) for f in model["features"]]) for r in rows]
    out = run / "steps" / "score" / "outputs" / "predictions"
    assert out.read_text().splitlines() == expected  # header once (--append_row_dataframe_header), rows in order


def test_many_models(tmp_path):
    run = _run("many-models", tmp_path)
    lines = (run / "steps" / "train" / "outputs" / "models").read_text().splitlines()
    assert len(lines) == 4 * 30
    stores = [line.split(" ")[0] for line in lines]
    assert stores == sorted(stores)  # one mini-batch per store, in key order
    assert [s for i, s in enumerate(stores) if i % 30 == 0] == ["store_00", "store_01", "store_02", "store_03"]
    assert all(len(line.split(" ")) == 5 for line in lines)


@pytest.mark.parametrize("example", ["batch-scoring", "file-processing", "many-models"])
def test_examples_validate(example):
    proc = run_pjob("validate", os.path.join(EXAMPLES, example, "pipeline.yml"))
    assert proc.returncode == 0, proc.stderr


def test_seed_pipeline_runs_unchanged(tmp_path):
    proc = run_pjob(
        "run", os.path.join(ROOT, "tests", "fixtures", "seed", "pipeline.yml"), "--runs-dir", tmp_path / "runs"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = (
        tmp_path
        / "runs"
        / "iris-batch-prediction-using-parallel"
        / "steps"
        / "batch_prediction"
        / "outputs"
        / "job_output_file"
    )
    assert len(out.read_text().splitlines()) == 150
    assert "did you mean the runtime flag --resource_monitor_interval" in proc.stderr
