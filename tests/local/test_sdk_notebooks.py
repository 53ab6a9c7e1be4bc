"""Azure ML notebooks run locally with only their import lines changed: the
credential cell (pjob.identity), MLClient.from_config, compute.get,
jobs.create_or_update(..., experiment_name=...) and jobs.stream, through a
real Python process running the notebook's cells."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import yaml
from pjobrun import ROOT

NOTEBOOK = os.path.join(ROOT, "tests", "fixtures", "notebooks", "pipeline_with_parallel_nodes.py")
EXAMPLE = os.path.join(ROOT, "examples", "sdk-pipeline")

# what a user changes: the imports, nothing else (docs/sdk.md has the same table)
IMPORTS = [
    ("from azure.identity import", "from pjob.identity import"),
    ("from azure.ai.ml import", "from pjob.sdk import"),
    ("from azure.ai.ml.", "from pjob.sdk."),
]


def change_imports(text: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        new = line
        for old, repl in IMPORTS:
            if new.startswith(old):
                new = repl + new[len(old) :]
                break
        assert new == line or re.match(r"from \S+ import ", line), line  # only import lines change
        out.append(new)
    return "".join(out)


def _project(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("pjob-runs", "__pycache__", "pipeline.py"))
    with open(NOTEBOOK, encoding="utf-8") as fh:
        (project / "notebook.py").write_text(change_imports(fh.read()))
    return project


def _run(project, cwd=None):
    return subprocess.run(
        [sys.executable, "notebook.py"],
        cwd=cwd or project,
        capture_output=True,
        text=True,
        timeout=240,
        env={k: v for k, v in os.environ.items() if k != "PJOB_CONFIG"},
    )


def test_notebook_with_only_its_imports_changed_runs_to_the_end_locally(tmp_path):
    project = _project(tmp_path)
    changed = [
        a
        for a, b in zip(open(NOTEBOOK).read().splitlines(), (project / "notebook.py").read_text().splitlines())
        if a != b
    ]
    assert len(changed) == 6 and all(line.startswith("from azure.") for line in changed)
    proc = _run(project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no pjob config file found; jobs run on this machine" in proc.stderr
    assert "compute 'cpu-cluster': this machine" in proc.stdout
    assert "Status: Succeeded" in proc.stdout
    runs = project / "pjob-runs"
    [run] = [p for p in runs.iterdir() if not p.name.startswith(".")]
    assert f"RunId: {run.name}" in proc.stdout
    spec = yaml.safe_load((run / "spec.yaml").read_text())
    assert spec["experiment_name"] == "pipeline_samples" and spec["tags"] == {"notebook": "1g"}
    assert spec["settings"]["default_compute"] == "cpu-cluster"
    scored = (run / "outputs" / "pipeline_job_out_tabular").read_text().splitlines()
    with open(os.path.join(EXAMPLE, "dataset", "iris.csv")) as fh:
        assert len(scored) == len(fh.read().splitlines()) - 1  # one scored row per iris row (header excluded)


def test_a_pjob_config_above_the_notebook_says_where_jobs_run(tmp_path):
    project = _project(tmp_path)
    (tmp_path / "pjob-config.json").write_text('{"runs_dir": "shared-runs"}')
    proc = _run(project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"found {tmp_path / 'pjob-config.json'}" in proc.stderr
    assert any((tmp_path / "shared-runs").iterdir()) and not (project / "pjob-runs").exists()


def test_a_failed_job_makes_stream_raise_like_azure(tmp_path):
    project = _project(tmp_path)
    script = project / "src" / "tabular_batch_inference.py"
    script.write_text(
        script.read_text().replace("def run(", "def run_was(")
        + "\ndef run(mini_batch):\n    raise RuntimeError('broken model')\n"
    )
    proc = _run(project)
    assert proc.returncode == 1
    assert "JobException" in proc.stderr and "Status: Failed" in proc.stdout
