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

The operator reads no file here: it checks the spec without files
(``check_files=False``), takes component YAMLs from the CR's
``pjob.dev/components`` annotation and a child ParallelJob's task from its
``pjob.dev/task`` annotation. Only the client side (``component_texts``,
called by ``builders.build_job_cr``) reads local files. A conda file the
pods install from is checked where it is read, in the pod.
Called by ``pjob.kube.handlers``, ``pjob.kube.builders`` and ``pjob.kube.render``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pydantic

from pjob.data import uris
from pjob.engine import build
from pjob.engine.task import ParallelTask
from pjob.kube import constants as c
from pjob.kube.config import OperatorConfig
from pjob.spec import checks, errors, load, models, resolve, yamlio

ANNOTATION_TASK = f"{c.GROUP}/task"  # a pipeline's child ParallelJob: the resolved ParallelTask (JSON)
ANNOTATION_COMPONENTS = f"{c.GROUP}/components"  # {step: component YAML text}: the operator reads no file

if TYPE_CHECKING:
    from pjob.kube.reconcile_pipeline import StepInfo


def _meta(body: dict[str, Any]) -> dict[str, Any]:
    return body.get("metadata") or {}


def annotations_of(body: dict[str, Any]) -> dict[str, Any]:
    return _meta(body).get("annotations") or {}


def run_dir(body: dict[str, Any], config: OperatorConfig) -> str:
    meta = _meta(body)
    given = annotations_of(body).get(c.ANNOTATION_RUN_DIR)
    return given or os.path.join(config.datastore_root, "runs", meta.get("namespace") or "default", meta["name"])


def base_dir(body: dict[str, Any], config: OperatorConfig) -> str:
    """The annotation (a relative one, as ``pjob submit`` writes it, is under the datastore root), else the root."""
    given = annotations_of(body).get(c.ANNOTATION_BASE_DIR)
    return os.path.join(config.datastore_root, given) if given else config.datastore_root


def step_name(body: dict[str, Any]) -> str:
    """The step a ParallelJob runs: its pipeline's step name, else spec.name, else the CR name."""
    name: str = (
        annotations_of(body).get(c.ANNOTATION_STEP) or (body.get("spec") or {}).get("name") or _meta(body)["name"]
    )
    return name


def gpus_per_instance(body: dict[str, Any], step: str | None = None) -> int:
    """GPUs per worker pod: annotation ``pjob.dev/gpus-per-instance.<step>`` (a
    PipelineJob's step), else ``pjob.dev/gpus-per-instance``, else 0. Azure's
    ``resources.instance_type`` names a VM size pjob cannot map to GPUs."""
    notes = annotations_of(body)
    key = f"{c.ANNOTATION_GPUS}.{step}" if step and f"{c.ANNOTATION_GPUS}.{step}" in notes else c.ANNOTATION_GPUS
    raw = notes.get(key)
    if raw is None:
        return 0
    try:
        count = int(str(raw).strip())
    except ValueError:
        count = -1
    if count < 0:
        raise errors.UserError(
            f"metadata.annotations[{key}]: {raw!r} is not a number of GPUs; write a whole "
            'number such as "1" (or "0" for none)',
            field=f"metadata.annotations.{key}",
        )
    return count


def conda_file(loaded: load.LoadedJob, name: str) -> str | dict[str, Any] | None:
    assert loaded.job is not None  # a job that loaded
    """Step ``name``'s ``environment.conda_file``: an absolute path (a relative
    one is relative to the YAML, or to the component file that declares it), the
    inline mapping, or None (no conda file, or a named ``azureml:`` environment)."""
    step = loaded.job.jobs[name]
    folder = loaded.base_dir
    if isinstance(step, models.ParallelStep):
        env = step.task.environment
    else:
        env = step.environment
        component = loaded.components.get(name)
        if env is None and component is not None:
            env, folder = component.model.environment, os.path.dirname(component.file)
    if not isinstance(env, models.Environment) or not env.conda_file:
        return None
    if isinstance(env.conda_file, dict):
        return env.conda_file
    return env.conda_file if os.path.isabs(env.conda_file) else os.path.normpath(os.path.join(folder, env.conda_file))


def component_texts(loaded: load.LoadedJob) -> dict[str, str]:
    """Step -> its component YAML's text (client side: ``build_job_cr`` puts them in
    the CR's ``pjob.dev/components`` annotation, so the operator reads no file)."""
    out = {}
    for name, comp in sorted(loaded.components.items()):
        with open(comp.file, encoding="utf-8") as fh:
            out[name] = fh.read()
    return out


def _components_from_annotation(loaded: load.LoadedJob, body: dict[str, Any]) -> None:
    """Components from ``pjob.dev/components`` instead of files: the component
    keeps its path on the datastore (relative paths in it resolve from there)."""
    raw = annotations_of(body).get(ANNOTATION_COMPONENTS)
    if not raw or loaded.job is None:
        return
    try:
        texts = json.loads(raw)
        assert isinstance(texts, dict)
    except (ValueError, AssertionError):
        loaded.problem((), f"metadata.annotations[{ANNOTATION_COMPONENTS}]: not a JSON mapping of step -> YAML")
        return
    for name, text in texts.items():
        step = loaded.job.jobs.get(name)
        if not isinstance(step, models.CommandStep) or not step.component or not isinstance(text, str):
            continue
        fields = {f"jobs.{name}.component", "component"}
        loaded.problems = [p for p in loaded.problems if p.field not in fields]
        path = loaded.resolve(step.component)
        try:
            data, lines = yamlio.parse_yaml(text, path)
            comp = models.CommandComponent.model_validate(data)
        except (errors.UserError, pydantic.ValidationError) as exc:
            loaded.problem(("jobs", name, "component"), f"component {step.component!r}: {exc}")
            continue
        loaded.components[name] = load.LoadedComponent(comp, path, lines)


def load_cr(body: dict[str, Any], config: OperatorConfig, *, check_files: bool = False) -> load.LoadedJob:
    """Model-validate and check the CR's spec; problems land in ``loaded.problems``.
    The operator passes ``check_files=False``: it reads no file on the datastore
    (the pods see it; ``pjob submit`` checked the files before shipping them)."""
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
    _components_from_annotation(loaded, body)
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


def locations(body: dict[str, Any], loaded: load.LoadedJob, config: OperatorConfig) -> resolve.Locations:
    stores = config.datastores()
    assert loaded.job is not None  # a job that loaded
    default = loaded.job.settings.default_datastore or config.default_datastore
    return resolve.Locations(
        outputs_root=os.path.join(run_dir(body, config), "steps"),
        locate=lambda p: uris.resolve_uri(p, stores),
        job_name=_meta(body)["name"],
        default_datastore=default,
    )


def resolve_steps(
    body: dict[str, Any], loaded: load.LoadedJob, config: OperatorConfig
) -> dict[str, resolve.ResolvedStep]:
    """Every step with concrete locations, in run order."""
    return resolve.resolve_pipeline(loaded, locations(body, loaded, config))


def carried_task(body: dict[str, Any]) -> ParallelTask | None:
    """A pipeline's child ParallelJob carries the task its pipeline resolved
    (``pjob.dev/task``): it is not loaded, checked or resolved again."""
    raw = annotations_of(body).get(ANNOTATION_TASK)
    return ParallelTask.from_json(raw) if raw else None


def _task(loaded: load.LoadedJob, name: str, resolved: resolve.ResolvedStep, run: str, gpus: int) -> ParallelTask:
    assert loaded.job is not None  # a job that loaded
    step = loaded.job.jobs[name]
    assert isinstance(step, models.ParallelStep)
    job = os.path.basename(run.rstrip("/"))
    task = build.build_parallel_task(job, step, resolved, step_dir=os.path.join(run, "steps", name), gpus=gpus)
    if step.max_concurrency_per_instance is None:
        task.concurrency_from_node = True
    conda = conda_file(loaded, name)
    if conda is not None:
        task.conda_file = conda
    return task


def parallel_task(body: dict[str, Any], loaded: load.LoadedJob | None, config: OperatorConfig) -> ParallelTask:
    """The engine task of a (checked) ParallelJob."""
    carried = carried_task(body)
    if carried is not None:
        return carried
    assert loaded is not None  # only a pipeline's child, which carries its task, is not loaded
    name = step_name(body)
    resolved = resolve_steps(body, loaded, config)[name]
    return _task(loaded, name, resolved, run_dir(body, config), gpus_per_instance(body))


def pipeline_steps(body: dict[str, Any], loaded: load.LoadedJob, config: OperatorConfig) -> list[StepInfo]:
    """Each step of a (checked) PipelineJob with its child object, in run order."""
    from pjob.kube import builders, reconcile_pipeline  # builders import this module's neighbours only

    resolved = resolve_steps(body, loaded, config)
    assert loaded.job is not None  # a job that loaded
    deps = checks.dependencies(loaded)
    run = run_dir(body, config)
    out = []
    for name, rstep in resolved.items():
        step = loaded.job.jobs[name]
        gpus = gpus_per_instance(body, name)
        if isinstance(step, models.ParallelStep):
            child = builders.build_child_paralleljob(
                body,
                name,
                step,
                rstep,
                run,
                gpus=gpus,
                conda_file=conda_file(loaded, name),
                task=_task(loaded, name, rstep, run, gpus),
            )
        else:
            child = builders.build_command_job(
                body,
                name,
                step,
                rstep,
                os.path.join(run, "steps", name),
                config,
                gpus=gpus,
                conda_file=conda_file(loaded, name),
            )
        out.append(reconcile_pipeline.StepInfo(name, step.type, [d for d in deps[name] if d in resolved], child))
    return out
