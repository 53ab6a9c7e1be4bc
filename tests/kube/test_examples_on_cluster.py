"""Every example in examples/ on the real control plane, as a user runs it: `pjob submit
FILE --wait` (code and inputs shipped as ConfigMaps, the operator with the chart's RBAC, worker
pods on the stand-in kubelet) exits 0, and every output file is byte-identical to `pjob run`'s.
The operator runs without the datastore (an empty read-only tmpfs over it in its mount
namespace): finalisation and unpacking happen in pods."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from operator_support import (
    REPO,
    assert_operator_has_no_datastore,
    prepare_cluster,
    start_operator,
    wait_operator_watching,
)

EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/pipeline.yml"))


def outputs(run: Path) -> dict[str, bytes]:
    """Every output file of a run folder (steps' and the pipeline's own), by path in the run."""
    found = [*run.glob("steps/*/outputs/**/*"), *run.glob("outputs/**/*")]
    return {str(p.relative_to(run)): p.read_bytes() for p in found if p.is_file()}


def test_every_example_is_covered():
    assert EXAMPLES == ["batch-scoring", "file-processing", "many-models", "sdk-pipeline"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_submitted_with_wait_matches_pjob_run(
    example, kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    root, env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path)
    operator = start_operator(start_process, env)
    assert_operator_has_no_datastore(operator, root)  # so the outputs below were written by pods only
    wait_operator_watching(wait_for_request)
    job = REPO / "examples" / example / "pipeline.yml"
    local = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "run", str(job), "--runs-dir", str(tmp_path / "local")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert local.returncode == 0, local.stdout + local.stderr
    (local_run,) = [p for p in (tmp_path / "local").iterdir() if (p / "steps").is_dir()]
    client_env = {**kube_env, "PJOB_FOLLOW_SECONDS": "0.5"}
    client_env.pop("PJOB_DATASTORE_ROOT", None)
    submitted = subprocess.run(
        [
            sys.executable,
            "-m",
            "pjob.cli",
            "submit",
            str(job),
            "--name",
            "ex",
            "--wait",
            "--kubeconfig",
            str(kube_api.kubeconfig_path),
        ],
        capture_output=True,
        text=True,
        env=client_env,
        timeout=600,
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr + operator.log()[-3000:]
    assert "Succeeded" in submitted.stdout.splitlines()[-1]
    expected = outputs(local_run)
    assert expected, f"pjob run of {example} wrote no output file"
    assert outputs(root / "runs" / "default" / "ex") == expected
