"""Checks of local inputs that need the data layer (``pjob.spec`` checks
cannot read data): every local ``mltable`` input's MLTable file parses, with
supported readers and transformations. Run by ``pjob validate`` and before
``pjob run`` starts anything, so a bad MLTable never fails a job halfway."""

from __future__ import annotations

from pjob.data import mltable
from pjob.spec import checks, errors, load, models


def _mltable_inputs(loaded: load.LoadedJob):
    job = loaded.job
    assert job is not None  # a checked job
    for key, value in job.inputs.items():
        yield ("inputs", key, "path"), value
    for name, step in job.jobs.items():
        for key, value in step.inputs.items():
            yield ("jobs", name, "inputs", key, "path"), value


def check_inputs(loaded: load.LoadedJob) -> None:
    """Raise UserError listing every bad local MLTable (the MLTable's own
    problem, plus which input of the job YAML points at it)."""
    problems: list[errors.Problem] = []
    for where, value in _mltable_inputs(loaded):
        location = checks.local_path(value.path, loaded.base_dir) if isinstance(value, models.DataInput) else None
        if location is None or value.type != "mltable":
            continue
        try:
            mltable.load(location)
        except errors.UserError as exc:
            problems.extend(exc.problems)
            loaded.problem(where, "the MLTable this input points at has the problem(s) above; fix the MLTable file")
            problems.append(loaded.problems.pop())
    if problems:
        raise errors.UserError(problems)
