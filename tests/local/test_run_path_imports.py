"""What `pjob run` imports on the way to a files job's first run() (issue 15:
time to the first run()): never the table, cloud, cluster or terminal
libraries. Checked in fresh processes (the test session has imported them
all): the driver's modules when its run ends, and a worker's at init()
(workers are forked from their agent, which is forked from the driver, so
they carry what the driver imported before starting them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pjobrun import write

# none of these is needed to run a job over files on this machine
NOT_ON_THE_RUN_PATH = (
    "pandas",
    "pyarrow",
    "numpy",
    "fsspec",
    "kubernetes",
    "rich",
    "requests",
    "urllib3",
    "importlib.metadata",
    "asyncio",
    "multiprocessing",
)

ENTRY = """\
import json, os, sys

def init():
    with open(os.environ["IMPORTS_AT_INIT"], "w") as f:
        json.dump(sorted(sys.modules), f)

def run(mini_batch):
    return [os.path.basename(p) for p in mini_batch]
"""

JOB = """\
type: parallel
name: imports
inputs:
  data: {{type: uri_folder, path: {data}}}
outputs:
  out: {{type: uri_file, path: {out}}}
input_data: ${{{{inputs.data}}}}
mini_batch_size: "2"
max_concurrency_per_instance: 1
task:
  type: run_function
  code: {code}
  entry_script: score.py
  append_row_to: ${{{{outputs.out}}}}
"""

DRIVER = """\
import json, sys
from pjob import cli
code = cli.main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_a_files_job_never_imports_table_cloud_or_cluster_libraries(tmp_path):
    for i in range(4):
        write(tmp_path / "data" / f"d{i}.txt", f"doc {i}\n")
    write(tmp_path / "code" / "score.py", ENTRY)
    job = write(
        tmp_path / "job.yml", JOB.format(data=tmp_path / "data", out=tmp_path / "out.txt", code=tmp_path / "code")
    )
    at_init = tmp_path / "at_init.json"
    env = dict(os.environ, IMPORTS_AT_INIT=str(at_init))
    env.pop("PYTHONSTARTUP", None)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, "run", str(job), "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    driver = json.loads(proc.stdout.strip().splitlines()[-1])
    assert driver["code"] == 0
    assert sorted((tmp_path / "out.txt").read_text().split()) == [f"d{i}.txt" for i in range(4)]
    with open(at_init) as f:
        worker = json.load(f)
    for who, modules in (("driver", driver["modules"]), ("worker", worker)):
        assert "pjob.local.run_cmd" in modules or who == "worker"
        loaded = sorted({m for m in modules for bad in NOT_ON_THE_RUN_PATH if m == bad or m.startswith(bad + ".")})
        assert not loaded, f"the {who} imported {loaded}"
