"""The state of a local run folder, between `pjob run` invocations:

- a run-level lock (``<runs-dir>/.locks/<job>.lock``, outside the run folder
  so ``--fresh`` can never delete a running job's files): one `pjob run` of a
  job at a time;
- ``state.json``: each step's status, its plan key and its fingerprint;
- step fingerprints: a hash of the step as resolved plus its code folder's
  file names, sizes and modification times, so a succeeded step whose spec or
  code changed runs again instead of being reported from an older run.
Called by ``pjob.local.pipeline_run``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os

from pjob.engine import fileio
from pjob.spec import errors, models, resolve

MAX_CODE_FILES = 20000  # fingerprint at most this many code files (a huge code folder is unusual)


@contextlib.contextmanager
def run_lock(runs_dir: str, job: str, run_dir: str):
    """Hold the job's lock for the whole run; UserError when another `pjob run` holds it."""
    folder = os.path.join(runs_dir, ".locks")
    os.makedirs(folder, exist_ok=True)
    fh = open(os.path.join(folder, f"{job}.lock"), "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise errors.UserError(
            f"job '{job}' is already running from another pjob run (pid {holder}) in {run_dir}; "
            "wait for it to finish or stop it, or use another --runs-dir",
            field="run",
        ) from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


def outputs_missing(rstep: resolve.ResolvedStep, previous: dict) -> list[str]:
    """Local outputs of a succeeded step that are gone (deleted since): its
    output locations and the merged append_row file its state recorded."""
    locations = [out.location for out in rstep.outputs.values()] + [previous.get("output_file") or ""]
    return [loc for loc in locations if loc and "://" not in loc and not os.path.exists(loc)]


def check_runs_dir(runs_dir: str, steps: dict[str, resolve.ResolvedStep]) -> None:
    """pjob's own files must never become input data."""
    for name, rstep in steps.items():
        for key, value in rstep.inputs.items():
            if isinstance(value, resolve.DataValue) and os.path.isdir(value.location):
                folder = os.path.abspath(value.location)
                if runs_dir == folder or runs_dir.startswith(folder.rstrip(os.sep) + os.sep):
                    raise errors.UserError(
                        f"--runs-dir {runs_dir} is inside input {key} of step {name} ({folder}); "
                        "pjob's own files would become input data: choose a runs dir outside it",
                        field="--runs-dir",
                    )


def run_folder_name(name: str, source: str, recorded: str | None) -> str:
    """The folder of a job's run under the runs dir: ``name``, unless that
    folder holds the run of another job file (``recorded``, from its state),
    then ``name-<hash of source>``, so each job file keeps resuming its own run
    and never continues another's. Folders from before sources were recorded
    (``recorded`` None) belong to whoever runs them."""
    if recorded is None or recorded == source:
        return name
    return f"{name}-{hashlib.sha256(source.encode()).hexdigest()[:8]}"


def load_state(run_dir: str) -> dict:
    try:
        with open(os.path.join(run_dir, "state.json"), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {"steps": {}}


def save_state(run_dir: str, state: dict) -> None:
    fileio.write_text_atomic(os.path.join(run_dir, "state.json"), json.dumps(state, indent=1))


def _code_signature(code_dir: str | None, exclude: str | None) -> list:
    if not code_dir or not os.path.isdir(code_dir):
        return []
    entries = []
    for root, dirs, files in os.walk(code_dir):
        dirs[:] = sorted(
            d for d in dirs if d != "__pycache__" and not d.startswith(".") and os.path.join(root, d) != exclude
        )  # `code: .` holds the runs dir
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            entries.append([os.path.relpath(path, code_dir), st.st_size, st.st_mtime_ns])
            if len(entries) >= MAX_CODE_FILES:
                return entries
    return entries


def fingerprint(
    step: models.ParallelStep | models.CommandStep,
    rstep: resolve.ResolvedStep,
    component_text: str = "",
    runs_dir: str | None = None,
) -> str:
    """Changes when what the step would do changes (spec, bindings, code)."""
    data = {
        "step": step.model_dump(mode="json", by_alias=True, exclude_unset=True),
        "resolved": dataclasses.asdict(rstep),
        "code": _code_signature(rstep.code_dir, runs_dir),
        "component": component_text,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
