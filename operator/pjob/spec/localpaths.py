"""Local paths of a job YAML: which values name files here (``local_path``,
the one rule validation and resolution share), and the checks of output
paths: an output must be the right kind of thing, somewhere writable, and
never write into what the job reads (the YAML, component files, code
folders, local inputs) nor into another output. Part of ``pjob.spec.checks``.
"""

from __future__ import annotations

import os
import re

from pjob.spec import models

URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")


def local_path(path, base_dir: str) -> str | None:
    """The filesystem path that ``path`` names (a plain path relative to
    ``base_dir``, ``file:///abs`` or ``file:rel``); None for URLs, datastore
    URIs and bindings. The one rule validation and resolution share."""
    if not isinstance(path, str):
        return None
    if path.startswith("file:"):
        path = path.removeprefix("file://").removeprefix("file:")
    elif not is_local_path(path):
        return None
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))


def is_local_path(path: str) -> bool:
    return not URL.match(path) and not path.startswith("azureml:") and "${{" not in path


def is_object_store(path) -> bool:
    """An fsspec URL (s3://, gs://, ...): neither a local path nor a file: or azureml: URI."""
    return isinstance(path, str) and bool(URL.match(path)) and not path.startswith(("file:", "azureml:"))


def check_local_path(loaded, where, path: str, what: str) -> None:
    full = local_path(path, loaded.base_dir)
    if full is not None and not os.path.exists(full):
        loaded.problem(
            where,
            f"{what} {path!r} does not exist (looked at {full}); fix the path (relative to {os.path.basename(loaded.file)})",
        )


def check_output_path(loaded, where, out: models.DataOutput) -> None:
    """An explicit local output path must be (or become) the right kind of
    thing, somewhere we may write."""
    full = local_path(out.path, loaded.base_dir)
    if full is None:
        return
    if out.type == "uri_file" and os.path.isdir(full):
        loaded.problem(
            where,
            f"{out.path} is a folder but type uri_file writes a file; point path at a file or use type: uri_folder",
        )
        return
    if out.type != "uri_file" and os.path.isfile(full):
        loaded.problem(
            where,
            f"{out.path} is a file but type {out.type} needs a folder; remove the file, point path at a folder, or use type: uri_file",
        )
        return
    existing = full
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if os.path.isdir(existing) and not os.access(existing, os.W_OK | os.X_OK):
        loaded.problem(
            where, f"cannot write to {existing} (permission denied); fix its permissions or choose another path"
        )


def _protected(loaded) -> list[tuple[str, str]]:
    """(path, what) the job reads and must never write: the YAML, component
    files, code folders and local inputs."""
    job = loaded.job
    found = [(os.path.abspath(loaded.file), "the job YAML")]
    found += [(os.path.abspath(c.file), "a component file") for c in loaded.components.values()]
    inputs = [(value, f"pipeline input {key}") for key, value in job.inputs.items()]
    for name, step in job.jobs.items():
        code = step.task.code if isinstance(step, models.ParallelStep) else step.code
        if code and is_local_path(code):
            found.append((loaded.resolve(code), f"the code folder of step {name}"))
        inputs += [(value, f"input {key} of step {name}") for key, value in step.inputs.items()]
    for value, what in inputs:
        path = local_path(value.path, loaded.base_dir) if isinstance(value, models.DataInput) else None
        if path:
            found.append((path, what))
    return found


def check_output_targets(loaded) -> None:
    """Outputs never overwrite what the job reads, nor each other."""
    protected = _protected(loaded)
    seen: dict[str, str] = {}
    places: list[tuple[tuple[str, ...], models.DataOutput | str | None]] = [
        (("outputs", k, "path"), v) for k, v in loaded.job.outputs.items()
    ]
    places += [(("jobs", n, "outputs", k, "path"), v) for n, s in loaded.job.jobs.items() for k, v in s.outputs.items()]
    for where, out in places:
        if isinstance(out, models.DataOutput) and is_object_store(out.path):
            loaded.problem(
                where,
                f"{out.path} is an object store: pjob writes outputs to folders, not to object "
                "stores yet; give a local path or a datastore path (azureml://datastores/...)",
            )
            continue
        if not isinstance(out, models.DataOutput):
            continue
        full = local_path(out.path, loaded.base_dir)
        if full is None:
            continue
        for path, what in protected:
            if full == path or full.startswith(path.rstrip(os.sep) + os.sep):
                loaded.problem(
                    where,
                    f"{out.path} would write into {what} ({path}); choose an output path outside what the job reads",
                )
                break
            if out.type != "uri_file" and path.startswith(full.rstrip(os.sep) + os.sep):  # e.g. path: ./
                loaded.problem(
                    where,
                    f"{out.path} is a folder that holds {what} ({path}): the step would write among "
                    "what the job reads; give the output a folder of its own",
                )
                break
        if full in seen:
            loaded.problem(where, f"{out.path} is also the output {seen[full]}; give each output its own path")
        seen.setdefault(full, ".".join(map(str, where[:-1])))
