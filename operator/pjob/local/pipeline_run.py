"""Run a checked pipeline on this machine: steps in dependency order, command
steps as subprocesses, parallel steps through ``pjob.local.parallel_step``
(``pjob.local.step_run``). Which step runs next and which are skipped (and
why) is ``pjob.engine.dag.next_steps``'s, the policy the operator follows too.

A run lives in ``<runs_dir>/<job-name>/``: ``spec.yaml`` (the job as loaded),
``state.json`` (each step's status), ``steps/<step>/{outputs,logs,work}``.
Running the same job again resumes: succeeded steps are skipped and an
unfinished parallel step continues where it stopped; ``--fresh`` discards the
previous run first (``pjob.local.fresh_start``). Called by ``pjob run`` and the
SDK's ``run_local``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Callable
from typing import Any

from pjob.data import uris
from pjob.engine import build, dag, manifest
from pjob.local import fresh_start, runstate, step_run
from pjob.local.step_run import PipelineRun, StepReport
from pjob.spec import bindings, checks, errors, load, models, resolve, yamlio


@dataclasses.dataclass
class PipelineResult:
    status: str  # Succeeded | Failed
    run_dir: str
    steps: dict[str, StepReport]

    @property
    def outputs(self) -> dict[str, str]:
        return {f"{s}.{k}": v for s, r in self.steps.items() for k, v in r.outputs.items()}

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "Succeeded" else 1


class _Datastores(dict):
    """Every datastore name maps to ``<runs_dir>/datastores/<name>`` unless given."""

    def __init__(self, runs_dir: str, given: dict[str, str] | None):
        super().__init__(given or {})
        self.runs_dir = runs_dir

    def __contains__(self, name) -> bool:
        return True

    def __bool__(self) -> bool:  # an empty mapping still maps every name
        return True

    def __missing__(self, name: str) -> str:
        return os.path.join(self.runs_dir, "datastores", name)


def job_name(loaded: load.LoadedJob) -> str:
    job = _pipeline(loaded)
    stem = os.path.splitext(os.path.basename(loaded.file))[0]
    raw = job.name or job.display_name or f"{os.path.basename(loaded.base_dir)}-{stem}"
    return folder_name(raw)


def _pipeline(loaded: load.LoadedJob) -> models.PipelineJob:
    """The loaded job (``pjob.spec.load`` gives one for every file it loaded without problems)."""
    if loaded.job is None:
        raise errors.UserError(f"{loaded.file}: no job was loaded", file=loaded.file)
    return loaded.job


def folder_name(raw: str) -> str:
    """The run folder name for a job named ``raw`` (pure): ASCII letters,
    digits, '_', '.', '-'. A name with other letters (``日本語``) also gets a
    short digest of itself, so two such names never share one folder."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-.")
    if not raw.isascii():
        name = f"{name}-{hashlib.sha256(raw.encode('utf-8')).hexdigest()[:8]}".strip("-")
    return name or "job"


def job_source(loaded: load.LoadedJob) -> str:
    """What identifies a job across runs: its YAML file (an SDK job: its source name)."""
    return os.path.abspath(loaded.file)


def run_folder(loaded: load.LoadedJob, runs_dir: str) -> tuple[str, str | None]:
    """``(run folder, note)``: ``<runs_dir>/<job name>``, or another folder when
    that one holds the run of a different job file; the note says so."""
    runs_dir = os.path.abspath(runs_dir)
    name, source = job_name(loaded), job_source(loaded)
    recorded = runstate.load_state(os.path.join(runs_dir, name)).get("source")
    chosen = os.path.join(runs_dir, runstate.run_folder_name(name, source, recorded))
    if chosen == os.path.join(runs_dir, name):
        return chosen, None
    return chosen, (
        f"{os.path.join(runs_dir, name)} holds the run of {recorded} (same job name); "
        f"this job ({source}) runs in {chosen}"
    )


def run_pipeline(
    loaded: load.LoadedJob,
    *,
    runs_dir: str = "pjob-runs",
    fresh: bool = False,
    retry_failed: bool = False,
    max_workers: int | None = None,
    datastores: dict[str, str] | None = None,
    progress: Callable | None = None,
    on_step: Callable[[str, str], None] | None = None,
    pythons: dict[str, str] | None = None,
) -> PipelineResult:
    """Run every step; returns the pipeline's verdict. ``on_step(name, event)``
    is told "start", "skip", "rerun", "rerun-input" (only its input data changed), "resume-changed" or "done", for display."""
    runs_dir = os.path.abspath(runs_dir)
    name = job_name(loaded)
    run_dir, _ = run_folder(loaded, runs_dir)
    run = PipelineRun(
        loaded,
        _pipeline(loaded),
        name,
        runs_dir,
        run_dir,
        fresh=fresh,
        retry_failed=retry_failed,
        max_workers=max_workers,
        pythons=pythons or {},
        datastores=datastores,
        progress=progress,
        on_step=on_step,
    )
    with runstate.run_lock(runs_dir, os.path.basename(run_dir), run_dir):  # before --fresh deletes anything
        discarded = fresh_start.discard(run_dir) if fresh and os.path.isdir(run_dir) else None
        try:
            os.makedirs(run_dir, exist_ok=True)
            state = runstate.load_state(run_dir)
            if state.get("source") != job_source(loaded):  # this folder is this job's from now on
                runstate.save_state(run_dir, {**state, "source": job_source(loaded)})
            return _run_steps(run)
        finally:
            if discarded is not None:
                discarded.finish()


def _run_steps(run: PipelineRun) -> PipelineResult:
    loaded, job = run.loaded, run.job
    stores = _Datastores(run.runs_dir, run.datastores)
    locations = resolve.Locations(
        outputs_root=os.path.join(run.run_dir, "steps"),
        locate=lambda p: uris.resolve_uri(p, stores),
        job_name=run.name,
        default_datastore=job.settings.default_datastore or "default",
    )
    resolved = resolve.resolve_pipeline(loaded, locations)
    runstate.check_runs_dir(run.runs_dir, resolved)
    state = runstate.load_state(run.run_dir)
    with open(os.path.join(run.run_dir, "spec.yaml"), "w", encoding="utf-8") as fh:
        fh.write(yamlio.dump_yaml(job.model_dump(mode="json", by_alias=True, exclude_unset=True)))
    deps = checks.dependencies(loaded)
    reports: dict[str, StepReport] = {}
    ran: set[str] = set()  # steps that ran in this invocation (their dependants must run too)
    states = {step_name: dag.PENDING for step_name in resolved}
    while True:  # one step at a time, as engine.dag decides
        decided = dag.next_steps(states, deps, bool(job.settings.continue_on_step_failure))
        for step_name, why in decided.skip.items():
            outputs = _output_locations(resolved[step_name])
            reports[step_name] = StepReport(step_name, job.jobs[step_name].type, dag.SKIPPED, why, outputs=outputs)
        states.update({step_name: dag.SKIPPED for step_name in decided.skip})
        if not decided.start:
            break
        step_name = decided.start[0]  # one at a time: the others stay Pending and are started next round
        upstream_ran = any(d in ran for d in deps.get(step_name, []))
        report = _run_or_resume(run, step_name, resolved[step_name], state=state, upstream_ran=upstream_ran, ran=ran)
        reports[step_name] = report
        states[step_name] = dag.SUCCEEDED if report.status == dag.SUCCEEDED else dag.FAILED
    unfinished = [n for n in resolved if n not in reports]
    if unfinished:  # the policy left a step neither run nor skipped: never report that as a success
        raise RuntimeError(f"steps {unfinished} were neither run nor skipped (states {states})")
    status = "Failed" if any(r.status == "Failed" for r in reports.values()) else "Succeeded"
    return PipelineResult(status, run.run_dir, {n: reports[n] for n in resolved if n in reports})


def _output_locations(rstep: resolve.ResolvedStep) -> dict[str, str]:
    return {k: v.location for k, v in rstep.outputs.items()}


def _run_or_resume(
    run: PipelineRun,
    step_name: str,
    rstep: resolve.ResolvedStep,
    *,
    state: dict[str, Any],
    upstream_ran: bool,
    ran: set[str],
) -> StepReport:
    """One step: skipped when it already succeeded and nothing it depends on
    changed, else run (from scratch when it must, resumed otherwise).
    ``upstream_ran``: a step it depends on ran in this invocation; ``ran``
    gets ``step_name`` when it runs."""
    loaded, step = run.loaded, run.job.jobs[step_name]
    outputs = _output_locations(rstep)
    previous = state["steps"].get(step_name, {})
    comp = loaded.components.get(step_name)
    fingerprint = runstate.fingerprint(step, rstep, _read(comp.file) if comp else "", run.runs_dir)
    step_fresh = run.fresh
    data_changed = _input_changes(run, step_name, rstep) if previous and not run.fresh else None
    if previous.get("status") == "Succeeded" and not (run.retry_failed and step.type == "parallel"):
        if (
            previous.get("fingerprint") == fingerprint
            and not upstream_ran
            and not data_changed
            and not runstate.outputs_missing(rstep, previous)
        ):
            run.tell(step_name, "skip")
            return StepReport(
                step_name,
                step.type,
                "Succeeded",
                "already succeeded (resumed run)",
                previous.get("job_result"),
                outputs,
            )
        step_fresh = True  # its spec, code, inputs or outputs changed since it succeeded: run it again from scratch
        only_data = data_changed and previous.get("fingerprint") == fingerprint and not upstream_ran
        previous = {}
        run.tell(step_name, "rerun-input" if only_data else "rerun")
    elif previous and upstream_ran:
        step_fresh = True  # what it reads was just made again: its earlier mini-batches are stale
        run.tell(step_name, "rerun")
    elif data_changed:
        where = ("jobs", step_name, "input_data")
        raise errors.UserError(
            [
                errors.Problem(
                    loaded.file,
                    yamlio.line_of(loaded.lines, where),
                    ".".join(where),
                    f"the input of step {step_name!r} changed since the interrupted run planned it: {data_changed}. "
                    "Resuming would mix old and new data; run with --fresh to start over with the input as it is now",
                )
            ]
        )
    elif previous.get("fingerprint") not in (None, fingerprint):
        run.tell(step_name, "resume-changed")
    run.tell(step_name, "start")
    ran.add(step_name)
    try:
        report = step_run.run_step(
            run, step_name, rstep, state=state, previous=previous, fingerprint=fingerprint, fresh=step_fresh
        )
    except errors.UserError as exc:
        if previous:
            state["steps"][step_name] = previous  # nothing ran: keep what was there
        else:
            state["steps"].pop(step_name, None)
        runstate.save_state(run.run_dir, state)
        raise _in_step(loaded, step_name, exc) from None
    report.outputs = outputs
    runstate.save_state(run.run_dir, state)
    run.tell(step_name, "done")
    return report


def _input_changes(run: PipelineRun, step_name: str, rstep: resolve.ResolvedStep) -> str | None:
    """For a parallel step planned by an earlier invocation: how its input
    differs from what that plan was made of (``engine.manifest.input_changes``)."""
    step = run.job.jobs[step_name]
    if not isinstance(step, models.ParallelStep):
        return None
    return manifest.input_changes(build.build_parallel_task(run.name, step, rstep, step_dir=run.step_dir(step_name)))


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _in_step(loaded: load.LoadedJob, step_name: str, exc: errors.UserError) -> errors.UserError:
    """Problems raised while running a step without a file (data, engine)
    name the YAML file, line and the step's field; a problem with the input
    being split names that input."""
    step = _pipeline(loaded).jobs[step_name]
    ref = bindings.whole_ref(step.input_data) if isinstance(step, models.ParallelStep) else None
    split = ref.name if ref is not None else None
    problems = []
    for p in exc.problems:
        if p.file is None:
            field, message = p.field, p.message
            if split and field in ("path", "type", "mode"):
                field = f"inputs.{split}.{field}"
            if "datastores" in message and "does not exist" in message:
                message += "; put the data there, or map the datastore with --datastore NAME=PATH"
            if field and not field.startswith("-"):  # a step field (not a CLI flag)
                path = ("jobs", step_name) + tuple(field.split("."))
                p = errors.Problem(loaded.file, yamlio.line_of(loaded.lines, path), ".".join(path), message)
            else:
                p = errors.Problem(
                    loaded.file,
                    yamlio.line_of(loaded.lines, ("jobs", step_name)),
                    field or f"jobs.{step_name}",
                    message,
                )
        problems.append(p)
    return errors.UserError(problems)
