"""From a ParallelJob/PipelineJob custom resource to what the engine runs:
the loaded and checked job (``pjob.spec``), its run folder on the datastore,
its steps with every binding resolved, and a parallel step's ``ParallelTask``.

Layout on the datastore (``OperatorConfig.datastore_root``): a job's run
folder is ``<root>/runs/<namespace>/<cr-name>/`` with the same layout as a
local run (``steps/<step>/{outputs,logs,work}``); a child ParallelJob of a
pipeline works inside its pipeline's run folder (annotations ``pjob.dev/run-dir``
and ``pjob.dev/step``). Relative paths in a spec resolve against the
``pjob.dev/base-dir`` annotation (``pjob submit`` and ``pjob operator render``
set it), else the datastore root.

Reads files only through ``pjob.spec.checks`` (does the entry script exist?).
Called by ``pjob.kube.handlers`` and ``pjob.kube.render``.
"""

from __future__ import annotations

import os

from pjob.data import uris
from pjob.engine import build
from pjob.engine.task import ParallelTask
from pjob.kube import constants as c
from pjob.kube.config import OperatorConfig
from pjob.spec import checks, load, models, resolve

# ParallelTask.extra key: max_concurrency_per_instance was not set, so each pod uses its own CPU count
CONCURRENCY_FROM_NODE = "concurrency_from_node"


def _meta(body: dict) -> dict:
    return body.get("metadata") or {}


def annotations(body: dict) -> dict:
    return _meta(body).get("annotations") or {}


def run_dir(body: dict, config: OperatorConfig) -> str:
    meta = _meta(body)
    given = annotations(body).get(c.ANNOTATION_RUN_DIR)
    return given or os.path.join(config.datastore_root, "runs", meta.get("namespace") or "default", meta["name"])


def base_dir(body: dict, config: OperatorConfig) -> str:
    """The annotation (a relative one, as ``pjob submit`` writes it, is under the datastore root), else the root."""
    given = annotations(body).get(c.ANNOTATION_BASE_DIR)
    return os.path.join(config.datastore_root, given) if given else config.datastore_root


def step_name(body: dict) -> str:
    """The step a ParallelJob runs: its pipeline's step name, else spec.name, else the CR name."""
    return annotations(body).get(c.ANNOTATION_STEP) or (body.get("spec") or {}).get("name") or _meta(body)["name"]


def load_cr(body: dict, config: OperatorConfig, *, check_files: bool = True) -> load.LoadedJob:
    """Model-validate and check the CR's spec; problems land in ``loaded.problems``."""
    kind = body.get("kind")
    spec = dict(body.get("spec") or {})
    name = _meta(body)["name"]
    if kind == c.PARALLEL_KIND:
        spec["type"] = "parallel"
        spec["name"] = step_name(body)
    else:
        spec["type"] = "pipeline"
        spec.setdefault("name", name)
    # load_data resolves relative paths (and component files) against the file's folder
    pseudo_file = os.path.join(base_dir(body, config), f"{kind}.{name}")
    loaded = load.load_data(spec, pseudo_file, {})
    return checks.check(loaded, check_files=check_files)


def problem_messages(loaded: load.LoadedJob) -> list[str]:
    """``spec.<field>: <message>`` lines; a wrapped ParallelJob's fields are its own."""
    out = []
    for problem in loaded.problems:
        field = problem.field
        if loaded.wrapped and field.startswith("jobs."):
            field = ".".join(field.split(".")[2:])
        out.append(f"spec.{field}: {problem.message}" if field else f"spec: {problem.message}")
    return out


def locations(body: dict, loaded: load.LoadedJob, config: OperatorConfig) -> resolve.Locations:
    stores = config.datastores()
    default = loaded.job.settings.default_datastore or config.default_datastore
    return resolve.Locations(
        outputs_root=os.path.join(run_dir(body, config), "steps"),
        locate=lambda p: uris.resolve_uri(p, stores),
        job_name=_meta(body)["name"],
        default_datastore=default,
    )


def resolve_steps(body: dict, loaded: load.LoadedJob, config: OperatorConfig) -> dict[str, resolve.ResolvedStep]:
    """Every step with concrete locations, in run order."""
    return resolve.resolve_pipeline(loaded, locations(body, loaded, config))


def parallel_task(body: dict, loaded: load.LoadedJob, config: OperatorConfig) -> ParallelTask:
    """The engine task of a (checked) ParallelJob."""
    name = step_name(body)
    resolved = resolve_steps(body, loaded, config)[name]
    step = loaded.job.jobs[name]
    assert isinstance(step, models.ParallelStep)
    job = os.path.basename(run_dir(body, config).rstrip("/"))
    task = build.build_parallel_task(job, step, resolved, step_dir=os.path.join(run_dir(body, config), "steps", name))
    if step.max_concurrency_per_instance is None:
        task.extra[CONCURRENCY_FROM_NODE] = True
    return task


def pipeline_steps(body: dict, loaded: load.LoadedJob, config: OperatorConfig) -> list:
    """Each step of a (checked) PipelineJob with its child object, in run order."""
    from pjob.kube import builders, reconcile_pipeline  # builders import this module's neighbours only

    resolved = resolve_steps(body, loaded, config)
    deps = checks.dependencies(loaded)
    run = run_dir(body, config)
    out = []
    for name, rstep in resolved.items():
        step = loaded.job.jobs[name]
        if isinstance(step, models.ParallelStep):
            child = builders.build_child_paralleljob(body, name, step, rstep, run)
        else:
            child = builders.build_command_job(body, name, step, rstep, os.path.join(run, "steps", name), config)
        out.append(reconcile_pipeline.StepInfo(name, step.type, [d for d in deps[name] if d in resolved], child))
    return out
