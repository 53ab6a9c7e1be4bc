"""`pjob run --python STEP=PATH`: a parallel step's workers run under the
step's own interpreter (its own pandas/pyarrow and libraries), with pjob's
worker runtime working there, through real `pjob run` processes. The table
test runs across the supported pandas/pyarrow range when both of the repo's
venvs exist: under `make test` workers use the floors venv, under
`make test-floors` (CI) they use the newest versions of .venv."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from pjobrun import ROOT, run_pjob, write

FILES_SCRIPT = """import sys
def run(mini_batch):
    try:
        import pandas  # noqa: F401
        has = "pandas"
    except ImportError:
        has = "no-pandas"
    return [f"{p.rsplit('/', 1)[-1]} {sys.prefix} {has}" for p in mini_batch]
"""

TABLE_SCRIPT = """import pandas, pyarrow
def run(mini_batch):
    out = mini_batch[["n"]].copy()
    out["v"] = pandas.__version__ + "/" + pyarrow.__version__
    return out
"""


def _job(tmp_path, script, table=False):
    write(tmp_path / "code" / "s.py", script)
    if table:
        write(tmp_path / "data" / "t.csv", "n,x\n" + "".join(f"{i},{i * 1.5}\n" for i in range(20)))
        write(tmp_path / "data" / "MLTable", "paths:\n  - file: ./t.csv\ntransformations:\n  - read_delimited: {}\n")
    else:
        for i in range(3):
            write(tmp_path / "data" / f"f{i}.txt", str(i))
    step = {
        "type": "parallel",
        "inputs": {"d": {"type": "mltable" if table else "uri_folder", "path": "./data"}},
        "outputs": {"o": {"type": "uri_file"}},
        "input_data": "${{inputs.d}}",
        "mini_batch_size": "100" if table else "1",
        "max_concurrency_per_instance": 1,
        "task": {"code": "./code", "entry_script": "s.py", "append_row_to": "${{outputs.o}}"},
    }
    job = {
        "type": "pipeline",
        "display_name": "own-python",
        "jobs": {"score": step, "after": {"type": "command", "command": "echo done"}},
    }
    return write(tmp_path / "p.yml", yaml.safe_dump(job, sort_keys=False))


def _bare_venv(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    return tmp_path / "bare" / "bin" / "python"


def _output(tmp_path):
    return (tmp_path / "runs" / "own-python" / "steps" / "score" / "outputs" / "o").read_text().splitlines()


def test_workers_run_under_the_steps_own_python_without_pjobs_dependencies(tmp_path):
    bare = _bare_venv(tmp_path)
    proc = run_pjob("run", _job(tmp_path, FILES_SCRIPT), "--runs-dir", tmp_path / "runs", "--python", f"score={bare}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _output(tmp_path) == [f"f{i}.txt {tmp_path / 'bare'} no-pandas" for i in range(3)]


@pytest.mark.parametrize(
    "flag,needle",
    [
        ("nope={python}", "the job has no step 'nope'"),
        ("after={python}", "step 'after' is a command step"),
        ("score", "write --python STEP=PATH"),
        ("score=/nonexistent/bin/python", "no executable file there"),
    ],
)
def test_a_bad_python_flag_is_bad_input(tmp_path, flag, needle):
    yml = _job(tmp_path, FILES_SCRIPT)
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs", "--python", flag.format(python=sys.executable))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--python" in proc.stderr and needle in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs" / "own-python" / "steps").exists()


def test_a_table_step_needs_pandas_and_pyarrow_in_that_environment(tmp_path):
    bare = _bare_venv(tmp_path)
    proc = run_pjob(
        "run", _job(tmp_path, TABLE_SCRIPT, table=True), "--runs-dir", tmp_path / "runs", "--python", f"score={bare}"
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pandas is not installed there (a table input needs pandas>=2.0)" in proc.stderr


def _other_end():
    """The repo's other venv: the floors one from .venv, .venv from the floors one."""
    here = os.path.realpath(sys.prefix)
    for name in (".venv", ".venv-floors"):
        python = os.path.join(ROOT, name, "bin", "python")
        if os.path.realpath(os.path.join(ROOT, name)) != here and os.path.exists(python):
            return python
    return None


def test_a_table_step_runs_with_the_other_end_of_the_supported_range(tmp_path):
    other = _other_end()
    if other is None:
        pytest.skip("the other venv of this repo (.venv or .venv-floors) is not there; `make test-floors` runs this")
    versions = subprocess.run(
        [other, "-c", "import pandas, pyarrow; print(pandas.__version__ + '/' + pyarrow.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    proc = run_pjob(
        "run", _job(tmp_path, TABLE_SCRIPT, table=True), "--runs-dir", tmp_path / "runs", "--python", f"score={other}"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _output(tmp_path) == [f"{i} {versions}" for i in range(20)]
