"""``parallel_run_function`` and ``RunFunction``: Azure SDK v2's builder of a
``type: parallel`` step (``azure.ai.ml.parallel``), producing a
``ParallelNode`` whose settings are a validated ``pjob.spec.models.ParallelStep``.
Unknown keyword arguments and bad values fail here, naming the argument."""

from __future__ import annotations

from typing import Any

from pjob.sdk import args, entities, io, nodes, paths
from pjob.spec import bindings, models


class RunFunction(io.SpecBacked):
    """The entry script of a parallel step: ``RunFunction(code="./src",
    entry_script="score.py", program_arguments="--model ${{inputs.model}}",
    environment=Environment(...), append_row_to="${{outputs.out}}")``."""

    _MODEL = models.RunFunctionTask
    _WHAT = "RunFunction"
    _PATH_FIELDS = ("code",)

    def __init__(
        self,
        *,
        code: Any = None,
        entry_script: str | None = None,
        program_arguments: str | None = None,
        environment: Any = None,
        append_row_to: str | None = None,
        environment_variables: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        known = ["code", "entry_script", "program_arguments", "environment", "append_row_to", "environment_variables"]
        args.reject_unknown(
            "RunFunction()",
            kwargs,
            known,
            {
                "model": "pass the model as an input and name it in program_arguments",
                "type": "only run_function is supported",
            },
        )
        if entry_script is None:
            raise TypeError(
                "RunFunction(): argument 'entry_script' is required: the .py file (inside code) that defines init() and run()"
            )
        env = entities.environment_value(environment, "RunFunction()")
        if code is None and paths.is_local(entry_script) and (entry_script.endswith(".py") or "/" in entry_script):
            entry_script = paths.absolute(entry_script)
        data = dict(
            code=code,
            entry_script=entry_script,
            program_arguments=program_arguments,
            append_row_to=append_row_to,
            environment_variables=environment_variables,
            environment=env._spec if isinstance(env, entities.Environment) else env,
        )
        self._init_spec(data, "RunFunction()")

    def _coerce(self, name: str, value: Any) -> Any:
        if name == "environment":
            env = entities.environment_value(value, "RunFunction.environment")
            return env._spec if isinstance(env, entities.Environment) else env
        return value

    @classmethod
    def _wrap(cls, spec: models.RunFunctionTask) -> RunFunction:
        obj = cls.__new__(cls)
        object.__setattr__(obj, "_spec", spec)
        return obj

    def _to_dict(self, base_dir: str | None = None) -> dict[str, Any]:
        out = {"type": "run_function", **super()._to_dict(base_dir)}
        if self._spec.code is None:
            out["entry_script"] = paths.render(out["entry_script"], base_dir)
        env = out.get("environment")
        if isinstance(env, dict) and isinstance(env.get("conda_file"), str):
            env["conda_file"] = paths.render(env["conda_file"], base_dir)
        return out


# argument name -> where it lives in the step mapping
_STEP_ARGS = [
    "display_name",
    "description",
    "tags",
    "properties",
    "experiment_name",
    "compute",
    "identity",
    "is_deterministic",
    "environment_variables",
    "input_data",
    "mini_batch_size",
    "partition_keys",
    "max_concurrency_per_instance",
    "mini_batch_error_threshold",
    "error_threshold",
    "retry_settings",
    "logging_level",
]
_RESOURCE_ARGS = ["instance_count", "instance_type", "shm_size"]
_UNSUPPORTED = {
    "docker_args": "pjob does not pass docker arguments; build them into the image",
    "component": "pass the settings to parallel_run_function directly",
}


def _argument_name(path: tuple) -> str:
    """Spec field path -> the parallel_run_function argument the user wrote."""
    if not path:
        return "?"
    if path[0] == "resources" and len(path) > 1:
        return str(path[1])
    if path[0] == "task" and len(path) > 1:
        return f"task.{path[1]}"
    if path[0] in ("retry_settings", "inputs", "outputs") and len(path) > 1:
        return f"{path[0]}.{path[1]}"
    return str(path[0])


class ParallelNode(nodes.Node):
    """A ``type: parallel`` step. Settings are attributes (``node.mini_batch_size
    = "10"``, ``node.retry_settings.timeout = 120``, ``node.task.program_arguments
    = ...``), validated when set."""

    _STEP_MODEL = models.ParallelStep

    @property
    def task(self) -> RunFunction:
        return RunFunction._wrap(self._step.task)

    @task.setter
    def task(self, value: Any) -> None:
        if not isinstance(value, RunFunction):
            raise TypeError(f"{self.kind_label}.task: expected RunFunction(...), got {type(value).__name__}")
        args.assign(self._step, "task", value._spec, self.kind_label)

    def render(self, names: dict[int, str], base_dir: str | None) -> dict[str, Any]:
        settings = self._settings_dict()
        settings["task"] = self.task._to_dict(base_dir)
        ins, outs = self._render_ports(names, base_dir, inline=True)
        out: dict[str, Any] = {"type": "parallel"}
        for key, value in settings.items():
            if key == "input_data":
                out["inputs"], out["outputs"] = ins, outs
            out[key] = value
        return out


def parallel_run_function(
    *,
    name: str | None = None,
    task: RunFunction | None = None,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> ParallelNode:
    """Build a parallel step (Azure ``azure.ai.ml.parallel.parallel_run_function``).

    Keyword arguments: name, display_name, description, tags, properties,
    experiment_name, compute, identity, is_deterministic, inputs, outputs,
    input_data, instance_count, instance_type, shm_size,
    max_concurrency_per_instance, mini_batch_size, partition_keys,
    mini_batch_error_threshold, error_threshold, retry_settings (dict with
    max_retries/timeout), logging_level, environment_variables, task.
    Call the result inside a ``@pipeline`` function with its inputs bound."""
    where = "parallel_run_function()"
    args.reject_unknown(
        where, kwargs, ["name", "task", "inputs", "outputs", *_STEP_ARGS, *_RESOURCE_ARGS], _UNSUPPORTED
    )
    if not isinstance(task, RunFunction):
        raise TypeError(
            f"{where}: argument 'task' must be RunFunction(code=..., entry_script=...), got {type(task).__name__}"
        )
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{where}: argument 'name' must be a string, got {type(name).__name__}")
    if not isinstance(inputs or {}, dict) or not isinstance(outputs or {}, dict):
        raise TypeError(f"{where}: arguments 'inputs' and 'outputs' must be dicts of name -> Input/Output")
    declared_in = {k: nodes.declared_input(v, f"{where}: inputs.{k}") for k, v in (inputs or {}).items()}
    declared_out = {k: nodes.declared_output(v, f"{where}: outputs.{k}") for k, v in (outputs or {}).items()}
    data: dict[str, Any] = {k: kwargs[k] for k in _STEP_ARGS if kwargs.get(k) is not None}
    data["resources"] = {k: kwargs[k] for k in _RESOURCE_ARGS if kwargs.get(k) is not None}
    for key in ("tags", "properties", "environment_variables"):  # dicts to update in place (step.tags.update(...))
        data[key] = dict(data.get(key) or {})
    data.setdefault("retry_settings", {})
    if "input_data" not in data:
        raise TypeError(
            f"{where}: argument 'input_data' is required: '${{{{inputs.<name>}}}}' naming the input to split into mini-batches"
        )
    data["task"] = task._spec.model_copy(deep=True)
    step = args.validate(models.ParallelStep, data, where, _argument_name)
    _check_references(where, step, declared_in, declared_out)
    node = ParallelNode(step, {k: v[0] for k, v in declared_in.items()}, declared_out, name)  # name: the component's
    for key, (_, bound) in declared_in.items():
        if bound is not None:
            node.inputs[key].bind(bound)
    return node


def _check_references(where: str, step: models.ParallelStep, ins: dict, outs: dict) -> None:
    ref = bindings.whole_ref(step.input_data)
    if not ref or ref.scope != "inputs" or ref.name not in ins:
        raise ValueError(
            f"{where}: argument 'input_data' must be '${{{{inputs.<name>}}}}' naming one of the inputs ({', '.join(ins) or 'none declared'}); got {step.input_data!r}"
        )
    if ins[ref.name][0].type not in models.DATA_TYPES:
        raise ValueError(
            f"{where}: argument 'input_data': input {ref.name!r} must be data (uri_folder, uri_file or mltable), not {ins[ref.name][0].type}"
        )
    append = step.task.append_row_to
    if append is not None:
        out = bindings.whole_ref(append)
        if not out or out.scope != "outputs" or out.name not in outs:
            raise ValueError(
                f"{where}: argument 'task.append_row_to' must be '${{{{outputs.<name>}}}}' naming one of the outputs ({', '.join(outs) or 'none declared'}); got {append!r}"
            )
    try:
        found = bindings.refs(step.task.program_arguments)
    except bindings.BindingError as exc:
        raise ValueError(f"{where}: argument 'task.program_arguments': {exc}") from None
    for r in found:
        if (r.scope == "inputs" and r.name not in ins) or (r.scope == "outputs" and r.name not in outs):
            known = ins if r.scope == "inputs" else outs
            raise ValueError(
                f"{where}: argument 'task.program_arguments': {r.text} names no declared {r.scope[:-1]}; use one of: {', '.join(known) or '(none)'}"
            )
