"""`make cluster` / `make cluster-down` as a person uses them (python -m realkube up/down, what the
Makefile runs): a second real cluster in a folder of its own, the batch-scoring example through
`pjob submit --wait` with the printed kubeconfig, its output under the printed datastore equal to
`pjob run`'s, and nothing left running after `down`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
from operator_support import REPO


def _realkube(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "realkube", *args], capture_output=True, text=True, env=env, timeout=300, cwd=REPO
    )


def _started_from(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(folder) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_make_cluster_runs_an_example_and_cluster_down_leaves_nothing(real_cluster, tmp_path):
    folder = tmp_path / "dot-cluster"
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests" / "cluster")}
    env.pop("KUBECONFIG", None)
    try:
        up = _realkube("up", "--dir", str(folder), env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert (
            f"kubeconfig: {folder / 'kubeconfig'}" in up.stdout and f"datastore:  {folder / 'datastore'}" in up.stdout
        )
        job = REPO / "examples" / "batch-scoring" / "pipeline.yml"
        submitted = subprocess.run(
            [
                sys.executable,
                "-m",
                "pjob.cli",
                "submit",
                str(job),
                "--name",
                "bs",
                "--wait",
                "--kubeconfig",
                str(folder / "kubeconfig"),
            ],
            capture_output=True,
            text=True,
            env={**env, "PJOB_FOLLOW_SECONDS": "0.5"},
            timeout=300,
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr + (folder / "operator.log").read_text()
        local = subprocess.run(
            [sys.executable, "-m", "pjob.cli", "run", str(job), "--runs-dir", str(tmp_path / "l")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert local.returncode == 0, local.stderr
        out = "steps/score/outputs/predictions"
        assert (folder / "datastore" / "runs" / "default" / "bs" / out).read_bytes() == (
            tmp_path / "l" / "batch-scoring" / out
        ).read_bytes()
        listed = subprocess.run([str(folder / "kubectl"), "get", "plj"], capture_output=True, text=True, timeout=60)
        assert "bs" in listed.stdout and "Succeeded" in listed.stdout, listed.stderr
        assert _started_from(folder), "the cluster's processes run from its folder"
    finally:
        down = _realkube("down", "--dir", str(folder), env=env)
    assert down.returncode == 0, down.stderr
    assert _started_from(folder) == [], "make cluster-down left processes running"
