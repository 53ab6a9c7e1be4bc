"""Helpers for the engine's local end-to-end tests (tests/local/test_engine_*.py):
build a real input folder, a real entry script and a ParallelTask in a tmp dir.
"""

from __future__ import annotations

import os
import textwrap

from pjob.engine.task import ParallelTask, RuntimeFlags


def make_files(folder, n: int) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"f{i:04d}.txt")
        with open(path, "w") as f:
            f.write(f"line {i}\n")
        paths.append(path)
    return paths


def make_task(
    tmp_path,
    script: str,
    *,
    n_files: int = 12,
    mini_batch_size: str = "2",
    argv=None,
    env=None,
    append_row: bool = True,
    flags: dict | None = None,
    **overrides,
) -> ParallelTask:
    tmp_path = str(tmp_path)
    code = os.path.join(tmp_path, "code")
    os.makedirs(code, exist_ok=True)
    with open(os.path.join(code, "score.py"), "w") as f:
        f.write(textwrap.dedent(script))
    make_files(os.path.join(tmp_path, "data"), n_files)
    out = os.path.join(tmp_path, "run", "outputs", "out")
    fields = dict(
        step="score",
        job="job",
        code_dir=code,
        entry_script="score.py",
        argv=list(argv or []),
        env=dict(env or {}),
        input_type="uri_folder",
        input_uri=os.path.join(tmp_path, "data"),
        mini_batch_size=mini_batch_size,
        partition_keys=None,
        output_dir=out,
        append_row_to=os.path.join(out, "parallel_run_step.txt") if append_row else None,
        logs_dir=os.path.join(tmp_path, "run", "logs"),
        work_dir=os.path.join(tmp_path, "run", "work"),
        max_concurrency_per_instance=2,
        timeout=30.0,
        flags=RuntimeFlags(**{"resource_monitor_interval": 0, **(flags or {})}),
    )
    fields.update(overrides)
    return ParallelTask(**fields)


def read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def markers(folder) -> list[str]:
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
