"""``pjob run --python STEP=PATH``: run a parallel step's workers with another
Python (the step's own environment, as Azure runs each step in its
environment), checked before anything runs: STEP must be a parallel step of
the job, PATH a Python >= 3.10 and, for a table input, one with pandas and
pyarrow at pjob's floors or newer (bad input: exit 2, naming the flag).
Called by ``pjob.local.run_cmd``; the workers are started by
``pjob.engine.procs`` through ``pjob.engine.interpreter``.
"""

from __future__ import annotations

import json
import os
import subprocess

from pjob.engine import interpreter
from pjob.spec import bindings, errors, load, models

FLAG = "--python"


def parse(values: list[str], loaded: load.LoadedJob) -> dict[str, str]:
    """``{step: interpreter path}`` from ``STEP=PATH`` values (pure over the job)."""
    out: dict[str, str] = {}
    assert loaded.job is not None  # a checked job
    for value in values:
        step, sep, path = value.partition("=")
        if not sep or not step or not path:
            raise errors.UserError(
                f"got {value!r}; write {FLAG} STEP=PATH, e.g. {FLAG} score=/opt/envs/score/bin/python", field=FLAG
            )
        job = loaded.job.jobs.get(step)
        if job is None:
            raise errors.UserError(
                f"{value!r}: the job has no step {step!r} (steps: {', '.join(loaded.job.jobs)})", field=FLAG
            )
        if not isinstance(job, models.ParallelStep):
            raise errors.UserError(
                f"{value!r}: step {step!r} is a {job.type} step; {FLAG} sets the workers' Python of a "
                "parallel step (a command step runs its command as written)",
                field=FLAG,
            )
        out[step] = os.path.abspath(os.path.expanduser(path))
    return out


def needs_tables(loaded: load.LoadedJob, step: str) -> bool:
    assert loaded.job is not None  # a checked job
    job = loaded.job.jobs[step]
    assert isinstance(job, models.ParallelStep)  # parse() took parallel steps only
    ref = bindings.whole_ref(job.input_data)
    value = job.inputs.get(ref.name) if ref else None
    return isinstance(value, models.DataInput) and value.type == "mltable" or not isinstance(value, models.DataInput)


def check(pythons: dict[str, str], loaded: load.LoadedJob) -> None:
    """Probe each interpreter; UserError listing what it lacks."""
    for step, path in pythons.items():
        where = f"{step}={path}"
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise errors.UserError(
                f"{where}: no executable file there; give the python of the step's environment "
                "(e.g. /path/to/venv/bin/python)",
                field=FLAG,
            )
        try:
            done = subprocess.run(
                [path, "-c", interpreter.PROBE],
                capture_output=True,
                text=True,
                timeout=60,
                env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
            )
            probe = json.loads(done.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
            raise errors.UserError(
                f"{where}: it did not run as a Python interpreter; give the python of the step's environment",
                field=FLAG,
            ) from None
        lacking = interpreter.problems(probe, needs_tables(loaded, step))
        if lacking:
            raise errors.UserError(
                f"{where}: {'; '.join(lacking)}; install it in that environment or use another", field=FLAG
            )
