"""Running SDK-built jobs: ``run_local`` (this machine, through the same
driver as ``pjob run``), ``submit`` (a cluster, as ``pjob submit``) and
``stored_result`` (a local run's result from its folder). ``MLClient``
(``pjob.sdk.mlclient``) is built on them. Called by user scripts."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from pjob.sdk import args, nodes
from pjob.sdk import pipeline as sdk_pipeline
from pjob.spec import checks, load


@dataclasses.dataclass
class LocalRunResult:
    """What ``run_local`` returns. ``outputs``: each pipeline output name and
    each ``<step>.<output>`` -> its path; ``job_result``: every step's verdict
    text (from its ``job_result.txt``)."""

    status: str  # Succeeded | Failed
    run_dir: str
    outputs: dict[str, str]
    job_result: str
    steps: dict[str, Any]  # step name -> pjob.local.pipeline_run.StepReport
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"

    @property
    def name(self) -> str:
        """The run's name (its folder under runs_dir), as Azure's ``job.name``."""
        return os.path.basename(self.run_dir)


def as_pipeline(job: Any) -> sdk_pipeline.PipelineJob:
    """A PipelineJob, or a single step wrapped as a one-step pipeline (Azure
    lets a parallel or command job be submitted on its own)."""
    if isinstance(job, sdk_pipeline.PipelineJob):
        return job
    if isinstance(job, nodes.Node):
        name = job.name or job.component_name or job._STEP_MODEL.model_fields["type"].default
        job.name = name
        return sdk_pipeline.PipelineJob(
            jobs={name: job},
            inputs={},
            outputs={},
            settings=sdk_pipeline.models.PipelineSettings(),
            source=name,
            display_name=job.display_name or name,
        )
    raise TypeError(
        f"expected a pipeline job (from a @pipeline function), a step, or a YAML path; got {type(job).__name__}"
    )


def _loaded(job: Any) -> tuple[load.LoadedJob, sdk_pipeline.PipelineJob | None]:
    if isinstance(job, load.LoadedJob):  # already checked (pjob.sdk.v1 builds one)
        return job, None
    if isinstance(job, (str, os.PathLike)):
        return checks.load_and_check(os.fspath(job)), None
    built = as_pipeline(job)
    return built.to_loaded(), built


def _result_text(value: str | None) -> str:
    if value and os.path.isfile(value):
        with open(value, encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    return (value or "").strip()


def stored_result(run_dir: str) -> LocalRunResult | None:
    """The result of a finished (or interrupted) local run, from its run folder; None when there is none."""
    import json

    try:
        with open(os.path.join(run_dir, "state.json"), encoding="utf-8") as fh:
            state = json.load(fh)
    except (OSError, ValueError):
        return None
    steps = state.get("steps") or {}
    statuses = [entry.get("status") for entry in steps.values()]
    status = (
        "Succeeded"
        if statuses and all(x == "Succeeded" for x in statuses)
        else ("Failed" if "Failed" in statuses else "Running")
    )
    texts = [
        f"{name}: {entry.get('status')}"
        + (f" - {_result_text(entry['job_result'])}" if entry.get("job_result") else "")
        for name, entry in steps.items()
    ]
    return LocalRunResult(status, run_dir, {}, "\n".join(texts), dict(steps))


def run_local(
    job: Any,
    *,
    runs_dir: str = "pjob-runs",
    fresh: bool = False,
    retry_failed: bool = False,
    max_workers: int | None = None,
    datastores: dict[str, str] | None = None,
    progress: Callable | None = None,
    on_step: Callable[[str, str], None] | None = None,
    show_progress: bool = False,
    **kwargs: Any,
) -> LocalRunResult:
    """Validate ``job`` like ``pjob validate`` and run it on this machine like
    ``pjob run`` (same driver, same run folder ``<runs_dir>/<job name>``;
    running again resumes). ``show_progress`` prints what ``pjob run`` prints
    while it runs. Raises ``pjob.spec.errors.UserError`` on bad input."""
    known = ["runs_dir", "fresh", "retry_failed", "max_workers", "datastores", "progress", "on_step", "show_progress"]
    args.reject_unknown("run_local()", kwargs, known)
    from pjob.local import pipeline_run  # heavy: imported only when running

    if show_progress:
        from pjob.local import run_cmd

        display = run_cmd.Display()
        progress, on_step = progress or display.progress, on_step or display.on_step
    loaded, built = _loaded(job)
    result = pipeline_run.run_pipeline(
        loaded,
        runs_dir=runs_dir,
        fresh=fresh,
        retry_failed=retry_failed,
        max_workers=max_workers,
        datastores=datastores,
        progress=progress,
        on_step=on_step,
    )
    outputs: dict[str, str] = {}  # pipeline outputs first, then every step's
    if built is not None:
        for step_name, node in built.jobs.items():
            for port_name, port in node.outputs.items():
                report = result.steps.get(step_name)
                if port._pipeline_output and report and port_name in report.outputs:
                    outputs[port._pipeline_output] = report.outputs[port_name]
    outputs.update(result.outputs)
    texts = [
        f"{name}: {r.status}"
        + (f" - {_result_text(r.job_result)}" if r.job_result else (f" - {r.reason}" if r.reason else ""))
        for name, r in result.steps.items()
    ]
    return LocalRunResult(
        result.status, result.run_dir, outputs, "\n".join(texts), dict(result.steps), list(loaded.warnings)
    )


@dataclasses.dataclass
class SubmittedJob:
    """What ``submit`` returns: the job as created on the cluster. ``name`` is
    what ``MLClient.jobs.stream`` and ``pjob status`` take, as Azure's ``job.name``."""

    name: str
    namespace: str
    kind: str  # ParallelJob | PipelineJob
    status: str  # as Azure reports a job just submitted
    resource: dict[str, Any]  # the custom resource as created


def submit(job: Any, *, namespace: str = "default", **kwargs: Any) -> SubmittedJob:
    """Send ``job`` and its code to the cluster, as ``pjob submit`` does: the
    job is validated here, then handed to the cluster client behind
    ``pjob submit`` (``pjob.kube.client_cmd.submit_loaded``)."""
    from pjob.kube import client_cmd  # heavy (the Kubernetes client): imported only when submitting

    loaded, _ = _loaded(job)
    created = client_cmd.submit_loaded(loaded, namespace=namespace, **kwargs)
    meta = created["metadata"]
    return SubmittedJob(meta["name"], meta.get("namespace", namespace), created["kind"], "NotStarted", created)
