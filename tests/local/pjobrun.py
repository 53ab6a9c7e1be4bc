"""Helpers for local end-to-end tests: run the real `pjob` CLI as a process.
(Not named conftest.py: several test folders have one, and `from conftest
import` would pick whichever was imported first.)"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_pjob(*args, cwd=None, timeout=240, env=None):
    """Run `python -m pjob.cli ARGS` and return the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "pjob.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


# A job whose run() waits for the test: with PJOB_TEST_GATES=<folder> each item dN.txt waits for
# <folder>/dN.txt; with PJOB_TEST_GATE=<file> every mini-batch waits for that one file. Items whose
# text is "bad" raise ValueError("cannot score dN.txt"). One item per mini-batch, two workers.
GATED_SCRIPT = """\
import os, time

def init():
    pass

def _wait_for_gate(path):
    gates = os.environ.get("PJOB_TEST_GATES")
    gate = os.path.join(gates, os.path.basename(path)) if gates else os.environ["PJOB_TEST_GATE"]
    deadline = time.monotonic() + 120
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)

def run(mini_batch):
    out = []
    for path in mini_batch:
        _wait_for_gate(path)
        if open(path).read().strip() == "bad":
            raise ValueError(f"cannot score {os.path.basename(path)}")
        out.append(os.path.basename(path))
    return out
"""

GATED_JOB = """\
type: pipeline
display_name: {name}
jobs:
  score:
    type: parallel
    inputs:
      docs: {{type: uri_folder, path: ./docs}}
    outputs:
      rows: {{type: uri_folder}}
    input_data: ${{{{inputs.docs}}}}
    mini_batch_size: "1"
    max_concurrency_per_instance: 2{threshold}
    retry_settings: {{max_retries: {max_retries}, timeout: 200}}
    task:
      type: run_function
      code: ./code
      entry_script: score.py
      append_row_to: ${{{{outputs.rows}}}}
"""


def gated_job(folder, name, *, docs=4, bad=None, max_retries=0, error_threshold=None):
    """Write the gated job (docs d0..d{docs-1}, item ``bad`` failing) under ``folder``; return its YAML path."""
    for i in range(docs):
        write(os.path.join(folder, "docs", f"d{i}.txt"), "bad" if i == bad else f"doc {i}")
    write(os.path.join(folder, "code", "score.py"), GATED_SCRIPT)
    threshold = "" if error_threshold is None else f"\n    mini_batch_error_threshold: {error_threshold}"
    job = GATED_JOB.format(name=name, threshold=threshold, max_retries=max_retries)
    return write(os.path.join(folder, "pipeline.yml"), job)
