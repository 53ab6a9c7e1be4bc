"""Every example, submitted to a real cluster with `pjob submit`, must end
Succeeded with the same output files, byte for byte, as `pjob run` of the
same YAML on this machine; `pjob status` and `pjob logs` must work on it.

Opt-in (`-m e2e`, i.e. `make e2e`); skipped without docker/kind/helm.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

import pytest
from kind_cluster import REPO

pytestmark = pytest.mark.e2e

EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/pipeline.yml"))


def local_outputs(example: pathlib.Path, runs: pathlib.Path) -> dict[str, bytes]:
    """Output files of a local `pjob run`, keyed like the datastore reader's
    (<step>/outputs/...)."""
    done = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "run", str(example), "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=example.parent,
    )
    assert done.returncode == 0, f"local reference run failed:\n{done.stdout}\n{done.stderr}"
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    steps = run_dir / "steps"
    return {str(p.relative_to(steps)): p.read_bytes() for p in sorted(steps.glob("*/outputs/**/*")) if p.is_file()}


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_succeeds_on_the_cluster_with_the_local_outputs(cluster, example, tmp_path):
    yml = REPO / "examples" / example / "pipeline.yml"
    before = set(cluster.custom_resources())
    dry = cluster.pjob("submit", str(yml), "-n", cluster.namespace, "--dry-run")
    assert "pjob.dev/v1alpha1" in dry.stdout
    cluster.pjob("submit", str(yml), "-n", cluster.namespace)
    created = {k: v for k, v in cluster.custom_resources().items() if k not in before}
    top = [k for k, v in created.items() if not v["metadata"].get("ownerReferences")]
    assert len(top) == 1, f"expected one new top-level job, got {sorted(created)}"
    plural, name = top[0]

    obj = cluster.wait_terminal(plural, name)
    conditions = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conditions.get("Succeeded") == "True", cluster.diagnostics(name)

    status = cluster.pjob("status", name, "-n", cluster.namespace)
    assert name in status.stdout
    logs = cluster.pjob("logs", name, "-n", cluster.namespace)
    assert logs.stdout.strip(), "pjob logs printed nothing for a finished job"

    remote = cluster.read_datastore_files(f"runs/{cluster.namespace}/{name}/steps")
    expected = local_outputs(yml, tmp_path / "runs")
    assert expected, "the local run produced no output files to compare"
    assert sorted(remote) == sorted(expected)
    for path, data in expected.items():
        assert remote[path] == data, f"{path} differs between the cluster and the local run"


def test_cancel_stops_a_running_job(cluster):
    """`pjob cancel` deletes the job; its worker Job goes with it."""
    yml = REPO / "examples" / "file-processing" / "pipeline.yml"
    before = set(cluster.custom_resources())
    cluster.pjob("submit", str(yml), "-n", cluster.namespace)
    (plural, name), *_ = [
        k for k, v in cluster.custom_resources().items() if k not in before and not v["metadata"].get("ownerReferences")
    ]
    cluster.pjob("cancel", name, "-n", cluster.namespace)
    deadline = time.monotonic() + 120
    while (plural, name) in cluster.custom_resources():
        assert time.monotonic() < deadline, f"{plural}/{name} still present after pjob cancel"
        time.sleep(2)
