"""Acceptance: a pipeline in the shape of Microsoft's many-models example
(command step partitions a CSV into an MLTable; parallel step with
partition_keys whose run() returns [], mini_batch_error_threshold: 5,
error_threshold: -1) runs with `pjob run` to success and writes one model
folder per key. With error_threshold: -1 short returns count as neither failed
items nor failed mini-batches (Azure's behaviour); with a threshold >= 0 they do."""

from __future__ import annotations

import csv
import os
import pickle
import shutil

from pjobrun import ROOT, run_pjob

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "many-models-1a")


def _copy(tmp_path):
    dest = tmp_path / "1a"
    shutil.copytree(FIXTURE, dest)
    return dest


def _keys():
    with open(os.path.join(FIXTURE, "data", "oj_sales.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    keys = {}
    for row in rows:
        keys[(int(row["Store"]), row["Brand"])] = keys.get((int(row["Store"]), row["Brand"]), 0) + 1
    return keys


def test_many_models_returning_nothing_succeeds_with_one_model_per_key(tmp_path):
    job = _copy(tmp_path)
    proc = run_pjob("run", job / "pipeline.yml", "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    step = tmp_path / "runs" / "oj-sales-many-models" / "steps" / "train_models"
    models = step / "outputs" / "model_folder"
    keys = _keys()
    assert sorted(os.listdir(models)) == sorted(f"{s}_{b}" for s, b in keys)
    for (store, brand), rows in keys.items():
        with open(models / f"{store}_{brand}" / "model.pkl", "rb") as fh:
            model = pickle.load(fh)
        assert model["key"] == {"Store": store, "Brand": brand} and model["rows"] == rows
    result = (step / "logs" / "job_result.txt").read_text()
    assert result.startswith("Succeeded") and f"{len(keys)} total, {len(keys)} succeeded, 0 failed" in result
    with open(step / "logs" / "sys" / "job_report" / "processed_mini-batches.csv", newline="") as fh:
        report = list(csv.DictReader(fh))
    assert sorted(int(r["total_items"]) for r in report) == sorted(keys.values())
    assert {r["status"] for r in report} == {"RUN_DONE"} and {r["failed_items"] for r in report} == {"0"}


def test_the_same_returns_fail_the_job_when_error_threshold_counts_them(tmp_path):
    job = _copy(tmp_path)
    text = (job / "pipeline.yml").read_text()
    (job / "pipeline.yml").write_text(
        text.replace("error_threshold: -1", "error_threshold: 100000").replace(
            "--error_threshold -1", "--error_threshold 100000"
        )
    )
    proc = run_pjob("run", job / "pipeline.yml", "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = (
        tmp_path / "runs" / "oj-sales-many-models" / "steps" / "train_models" / "logs" / "job_result.txt"
    ).read_text()
    assert "rule tripped: mini_batch_error_threshold" in result
