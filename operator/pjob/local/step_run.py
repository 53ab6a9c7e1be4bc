"""Run ONE step of a local pipeline once the pipeline runner
(``pjob.local.pipeline_run``) decided it runs: record it in ``state.json``,
run a command step as a subprocess or a parallel step through
``pjob.local.parallel_step``, and report it as a ``StepReport``. What stays
the same for every step of the run is one ``PipelineRun``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

from pjob.engine import build
from pjob.local import command_step, runstate
from pjob.spec import bindings, errors, load, models, resolve


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """One ``pjob.local.pipeline_run.run_pipeline`` call: what stays the same
    for every step it runs (made once, passed down to each step)."""

    loaded: load.LoadedJob
    job: models.PipelineJob  # loaded.job (checked: a job was loaded)
    name: str  # the job's name (engine task names, default output paths)
    runs_dir: str  # absolute
    run_dir: str  # the run folder: <runs_dir>/<job name> (or another, see run_folder)
    _: dataclasses.KW_ONLY  # the options of the run: by name
    fresh: bool  # --fresh: every step starts over
    retry_failed: bool
    max_workers: int | None
    pythons: dict[str, str]  # step -> the interpreter of its workers (--python STEP=PATH)
    datastores: dict[str, str] | None  # --datastore NAME=PATH (the others map below runs_dir)
    progress: Callable | None  # for display: the parallel step's progress
    on_step: Callable[[str, str], None] | None  # for display: see run_pipeline

    def step_dir(self, step_name: str) -> str:
        return os.path.join(self.run_dir, "steps", step_name)

    def tell(self, step_name: str, event: str) -> None:
        """``on_step(step_name, event)``, when there is one (for display)."""
        if self.on_step:
            self.on_step(step_name, event)


@dataclasses.dataclass
class StepReport:
    name: str
    kind: str
    status: str  # Succeeded | Failed | Skipped (upstream failed) | NotStarted
    reason: str = ""
    job_result: str | None = None
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    failed_mini_batches: int = 0  # failed within the thresholds (the step still succeeded)
    failed_items: int = 0
    logs_dir: str | None = None
    output_file: str | None = None  # the merged append_row file of a parallel step


def _plan_key(step: models.ParallelStep, resolved: resolve.ResolvedStep) -> str:
    ref = bindings.whole_ref(step.input_data)  # checked: the input is one ${{inputs.X}}
    data = resolved.inputs.get(ref.name) if ref is not None else None
    return json.dumps([str(data), step.mini_batch_size, step.partition_keys])


def _clear_default_outputs(step_dir: str) -> None:
    """Remove what an earlier attempt left in the step's default output
    folders; outputs at paths the user chose are never deleted."""
    default_outputs = os.path.join(step_dir, "outputs")
    if os.path.isdir(default_outputs):
        shutil.rmtree(default_outputs)


def run_step(
    run: PipelineRun,
    step_name: str,
    rstep: resolve.ResolvedStep,
    *,
    state: dict[str, Any],
    previous: dict[str, Any],
    fingerprint: str,
    fresh: bool,
) -> StepReport:
    """Run ``step_name`` and record it in ``state`` (saved when it starts;
    the caller saves the end). ``previous``: its record from an earlier
    invocation ({} when none or discarded); ``fresh``: it starts over (the
    run's ``--fresh``, or the step must run again)."""
    step = run.job.jobs[step_name]
    step_dir = run.step_dir(step_name)
    if isinstance(step, models.ParallelStep):
        key = _plan_key(step, rstep)
        if not fresh and previous.get("plan_key") not in (None, key):
            raise errors.UserError(
                f"the run folder {run.run_dir} holds step {step_name!r} planned from a different input or mini-batch "
                "setting; run with --fresh to start over, or use another --runs-dir",
                file=run.loaded.file,
                field=f"jobs.{step_name}",
            )
        state["steps"][step_name] = {"status": "Running", "plan_key": key, "fingerprint": fingerprint}
        runstate.save_state(run.run_dir, state)
        if fresh:
            _clear_default_outputs(step_dir)
        report = _run_parallel(run, step_name, step, rstep, fresh=fresh)
        state["steps"][step_name] = {
            "status": report.status,
            "plan_key": key,
            "fingerprint": fingerprint,
            "job_result": report.job_result,
            "output_file": report.output_file,
        }
        return report
    state["steps"][step_name] = {"status": "Running", "fingerprint": fingerprint}
    runstate.save_state(run.run_dir, state)
    _clear_default_outputs(step_dir)  # a command re-runs whole
    limit = step.limits.timeout if step.limits else None
    res = command_step.run_command_step(rstep, step_dir, timeout=float(limit) if limit else None)
    report = StepReport(step_name, "command", res.status, res.reason, os.path.join(res.logs_dir, "job_result.txt"))
    state["steps"][step_name] = {"status": report.status, "fingerprint": fingerprint, "job_result": report.job_result}
    return report


def _run_parallel(
    run: PipelineRun, step_name: str, step: models.ParallelStep, rstep: resolve.ResolvedStep, *, fresh: bool
) -> StepReport:
    from pjob.local import parallel_step  # the engine's local runner

    task = build.build_parallel_task(run.name, step, rstep, step_dir=run.step_dir(step_name), gpus=_gpus())
    task.python = run.pythons.get(step_name)  # pjob run --python STEP=PATH: the workers' interpreter
    command_step.prepare_outputs(rstep.outputs)
    result = parallel_step.run_parallel_step(
        task, fresh=fresh, retry_failed=run.retry_failed, max_workers=run.max_workers, progress=run.progress
    )
    counters = result.counters
    return StepReport(
        step_name,
        "parallel",
        result.status,
        result.message if result.status != "Succeeded" else "",
        result.job_result,
        failed_mini_batches=counters.failed,
        failed_items=counters.items_failed,
        logs_dir=result.logs_dir,
        output_file=result.output,
    )


def _gpus() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return len([d for d in os.listdir("/dev") if re.fullmatch(r"nvidia\d+", d)])
    except OSError:
        return 0
