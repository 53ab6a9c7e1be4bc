"""Names a user gives that become folder names (steps) or expression names
(inputs, outputs): identifiers, as Azure ML requires, so none can reach
outside the run folder (``../x``, ``a/b``) or clash once written to disk.
And paths given as empty strings, which would silently mean "the YAML's
folder" and be blamed on something else later.

Called by ``pjob.spec.checks.check``; pure over the loaded job.
"""

from __future__ import annotations

import re

from pjob.spec import load, models

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")  # Azure's job names: a single-step file's step is named so

IDENTIFIER_RULE = "letters, digits and underscores, not starting with a digit"


def name_problem(name: str, pattern: re.Pattern = IDENTIFIER) -> str | None:
    """Why ``name`` is not acceptable, or None (pure)."""
    if pattern.match(name):
        return None
    rule = IDENTIFIER_RULE if pattern is IDENTIFIER else "letters, digits, '-' and '_', starting with a letter or digit"
    return f"{name!r} is not a valid name: use {rule} (it names a folder and ${{{{...}}}} references)"


def check_names(loaded: load.LoadedJob) -> None:
    """Record a problem for every step, input and output name that is not an identifier."""
    job = loaded.job
    assert job is not None  # a job file that loaded
    for key in job.inputs:
        _check(loaded, ("inputs", key), key, "pipeline input")
    for key in job.outputs:
        _check(loaded, ("outputs", key), key, "pipeline output")
    for name, step in job.jobs.items():
        if loaded.wrapped:  # the step is the whole file: its name is the job's name
            why = name_problem(name, JOB_NAME)
            if why:
                loaded.problem(("name",), f"job {why}")
        else:
            _check(loaded, ("jobs", name), name, "step")
        for key in step.inputs:
            _check(loaded, ("jobs", name, "inputs", key), key, "input")
        for key in step.outputs:
            _check(loaded, ("jobs", name, "outputs", key), key, "output")
        comp = loaded.components.get(name)
        if comp is not None:
            for kind in ("inputs", "outputs"):
                for key in getattr(comp.model, kind):
                    why = name_problem(key)
                    if why:
                        loaded.problem((kind, key), f"{kind[:-1]} {why}", file=comp.file, lines=comp.lines)


def _check(loaded: load.LoadedJob, where: tuple[str, ...], name: str, what: str) -> None:
    why = name_problem(name)
    if why:
        loaded.problem(where, f"{what} {why}")


def check_empty_paths(loaded: load.LoadedJob) -> None:
    """``path: ""`` on a data input or an output is a problem at that line."""
    job = loaded.job
    assert job is not None  # a job file that loaded
    places: list[tuple[tuple[str, ...], object]] = [(("inputs", k, "path"), v) for k, v in job.inputs.items()]
    places += [(("outputs", k, "path"), v) for k, v in job.outputs.items()]
    for name, step in job.jobs.items():
        places += [(("jobs", name, "inputs", k, "path"), v) for k, v in step.inputs.items()]
        places += [(("jobs", name, "outputs", k, "path"), v) for k, v in step.outputs.items()]
    for where, value in places:
        path = getattr(value, "path", None)
        if isinstance(value, (models.DataInput, models.DataOutput)) and path is not None and not path.strip():
            what = "an output" if where[-3] == "outputs" else "an input"
            if isinstance(value, models.DataInput) and value.type not in models.DATA_TYPES:
                continue  # an empty string literal is a value, not a path
            loaded.problem(
                where,
                f"the path of {what} is empty; give a folder, a file or a URL "
                f"(relative to {loaded.base_dir}){'' if what == 'an input' else ', or leave path out for the default'}",
            )
