"""Resource bombs are refused or bounded, through the real ``pjob``
console script: a YAML alias bomb is bad input found in bounded memory, and
a huge ``max_concurrency_per_instance`` starts no more workers than there
are mini-batches, with a warning naming the setting.
"""

import os
import resource
import subprocess

import pytest
from test_cli_edges import PJOB_SCRIPT, edit, pjob, write_job

LAUGHS = """\
type: pipeline
display_name: bomb
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
jobs: {}
"""

MERGES = """\
type: pipeline
a: &a {a1: 1, a2: 2, a3: 3, a4: 4, a5: 5, a6: 6, a7: 7, a8: 8, a9: 9}
b: &b {x1: {<<: *a}, x2: {<<: *a}, x3: {<<: *a}, x4: {<<: *a}, x5: {<<: *a}, x6: {<<: *a}, x7: {<<: *a}}
c: &c {<<: *b, y1: *b, y2: *b, y3: *b, y4: *b, y5: *b, y6: *b, y7: *b, y8: *b}
d: &d {<<: *c, z1: *c, z2: *c, z3: *c, z4: *c, z5: *c, z6: *c, z7: *c, z8: *c}
e: &e {<<: *d, w1: *d, w2: *d, w3: *d, w4: *d, w5: *d, w6: *d, w7: *d, w8: *d}
f: &f {<<: *e, v1: *e, v2: *e, v3: *e, v4: *e, v5: *e, v6: *e, v7: *e, v8: *e}
jobs: {}
"""

RECURSIVE = "type: pipeline\na: &a [1, *a]\njobs: {}\n"

BOMBS = {"billion-laughs": (LAUGHS, 8), "merge-keys": (MERGES, 7), "recursive": (RECURSIVE, 2)}
MEMORY_CAP = 1 << 30  # the whole pjob validate process, interpreter included


def _capped():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))


@pytest.mark.parametrize("name", list(BOMBS))
def test_an_alias_bomb_is_refused_in_bounded_memory(tmp_path, name):
    text, line = BOMBS[name]
    (tmp_path / "bomb.yml").write_text(text)
    proc = subprocess.run(
        [PJOB_SCRIPT, "validate", "bomb.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_capped,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert f"bomb.yml:{line}:" in proc.stderr and "alias" in proc.stderr, proc.stderr


def test_a_file_too_big_to_be_a_job_is_refused_before_parsing(tmp_path):
    with open(tmp_path / "big.yml", "w") as fh:
        fh.write("type: pipeline\njobs: {}\nx: |\n")
        line = "  " + "y" * 1000 + "\n"
        for _ in range(17 * 1024):
            fh.write(line)
    proc = subprocess.run(
        [PJOB_SCRIPT, "validate", "big.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_capped,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr[-2000:]
    assert "big.yml" in proc.stderr and "MB" in proc.stderr, proc.stderr


def _workers_started(tmp_path) -> int:
    folder = tmp_path / "pjob-runs" / "edge" / "steps" / "step" / "logs" / "user" / "stdout" / "0"
    return len(os.listdir(folder))


def test_no_more_workers_than_mini_batches(tmp_path):
    yml = write_job(tmp_path, files=3, mini_batch_size="1")
    edit(yml, "max_concurrency_per_instance: 2", "max_concurrency_per_instance: 40")
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _workers_started(tmp_path) == 3


def test_a_concurrency_beyond_the_machine_warns_and_still_runs(tmp_path):
    yml = write_job(tmp_path, files=4, mini_batch_size="1")
    edit(yml, "max_concurrency_per_instance: 2", "max_concurrency_per_instance: 100000")
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pipeline.yml:15: jobs.step.max_concurrency_per_instance: 100000 worker processes" in proc.stderr, (
        proc.stderr
    )
    assert _workers_started(tmp_path) == 4


def test_no_more_instances_than_mini_batches(tmp_path):
    yml = write_job(tmp_path, files=3, mini_batch_size="1")
    edit(
        yml,
        "max_concurrency_per_instance: 2",
        "max_concurrency_per_instance: 4\n    resources:\n      instance_count: 20",
    )
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    logs = tmp_path / "pjob-runs" / "edge" / "steps" / "step" / "logs"
    assert len(os.listdir(logs / "sys" / "node")) == 3
    started = sum(len(os.listdir(logs / "user" / "stdout" / node)) for node in os.listdir(logs / "user" / "stdout"))
    assert started == 3
