"""``command(...)`` and ``load_component(source=...)``: command steps as in
Azure SDK v2. ``command`` builds an inline ``type: command`` step;
``load_component`` reads a commandComponent YAML (validated by
``pjob.spec.models.CommandComponent``) and returns a component function whose
calls create steps that reference the YAML (``component: ./file.yml``)."""

from __future__ import annotations

import os
from typing import Any

import pydantic

from pjob.sdk import args, entities, nodes, paths
from pjob.spec import errors, load, models, yamlio


class CommandNode(nodes.Node):
    """A ``type: command`` step: inline (``command(...)``) or referencing a
    commandComponent YAML (``load_component``)."""

    _STEP_MODEL = models.CommandStep

    def _coerce(self, name: str, value: Any) -> Any:
        if name == "environment":
            env = entities.environment_value(value, f"{self.kind_label}.environment")
            return env._spec if isinstance(env, entities.Environment) else env
        if name == "code":
            return paths.absolute(value)
        return value

    def set_limits(self, *, timeout: int | None = None, **kwargs: Any) -> None:
        args.reject_unknown("set_limits()", kwargs, ["timeout"])
        self.limits = {"timeout": timeout} if timeout is not None else None

    def render(self, names: dict[int, str], base_dir: str | None) -> dict[str, Any]:
        settings = self._settings_dict()
        inline = self._step.component is None
        for key in ("code", "component"):
            if key in settings:
                settings[key] = paths.render(settings[key], base_dir)
        env = settings.get("environment")
        if isinstance(env, dict) and isinstance(env.get("conda_file"), str):
            env["conda_file"] = paths.render(env["conda_file"], base_dir)
        ins, outs = self._render_ports(names, base_dir, inline=inline)
        out: dict[str, Any] = {"type": "command", **settings}
        if ins:
            out["inputs"] = ins
        if outs:
            out["outputs"] = outs
        return out


_COMMAND_ARGS = [
    "display_name",
    "description",
    "tags",
    "properties",
    "experiment_name",
    "compute",
    "identity",
    "is_deterministic",
    "command",
    "code",
    "environment",
    "environment_variables",
    "distribution",
    "services",
]
_RESOURCE_ARGS = ["instance_count", "instance_type", "shm_size"]


def command(
    *,
    name: str | None = None,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    timeout: int | None = None,
    **kwargs: Any,
) -> CommandNode:
    """Build an inline command step (Azure ``azure.ai.ml.command``):
    ``command(command="python x.py --in ${{inputs.data}}", code="./src",
    environment=..., inputs={...}, outputs={...})``. A relative ``code`` is
    relative to the current directory."""
    where = "command()"
    unsupported = {
        "docker_args": "pjob does not pass docker arguments",
        "locations": "not applicable outside Azure",
        "job_tier": "not applicable outside Azure",
        "priority": "not applicable outside Azure",
        "component": "use load_component",
    }
    args.reject_unknown(
        where, kwargs, ["name", "inputs", "outputs", "timeout", *_COMMAND_ARGS, *_RESOURCE_ARGS], unsupported
    )
    if not kwargs.get("command"):
        raise TypeError(f"{where}: argument 'command' is required: the shell command to run")
    declared_in = {k: nodes.declared_input(v, f"{where}: inputs.{k}") for k, v in (inputs or {}).items()}
    declared_out = {k: nodes.declared_output(v, f"{where}: outputs.{k}") for k, v in (outputs or {}).items()}
    data: dict[str, Any] = {k: kwargs[k] for k in _COMMAND_ARGS if kwargs.get(k) is not None}
    if "code" in data:
        data["code"] = paths.absolute(data["code"])
    env = entities.environment_value(data.get("environment"), where)
    if isinstance(env, entities.Environment):
        data["environment"] = env._spec
    data["resources"] = {
        k: kwargs[k] for k in _RESOURCE_ARGS if kwargs.get(k) is not None
    }  # so step.resources.x = ... works
    for key in ("tags", "properties", "environment_variables"):  # dicts to update in place (step.tags.update(...))
        data[key] = dict(data.get(key) or {})
    if timeout is not None:
        data["limits"] = {"timeout": timeout}
    step = args.validate(
        models.CommandStep, data, where, lambda p: str(p[-1] if p and p[0] == "resources" else ".".join(map(str, p)))
    )
    node = CommandNode(step, {k: v[0] for k, v in declared_in.items()}, declared_out, name)  # name: the component's
    for key, (_, bound) in declared_in.items():
        if bound is not None:
            node.inputs[key].bind(bound)
    return node


class CommandComponent:
    """What ``load_component`` returns: call it with the component's inputs
    to create a step (``prep = load_component(source="prep.yml");
    step = prep(input_data=...)``)."""

    def __init__(self, model: models.CommandComponent, source: str):
        self._model = model
        self.source = source  # absolute path of the YAML

    @property
    def name(self) -> str | None:
        return self._model.name

    @property
    def display_name(self) -> str | None:
        return self._model.display_name

    @property
    def version(self) -> Any:
        return self._model.version

    @property
    def command(self) -> str:
        return self._model.command

    @property
    def inputs(self) -> dict[str, models.DataInput]:
        return dict(self._model.inputs)

    @property
    def outputs(self) -> dict[str, models.DataOutput]:
        return dict(self._model.outputs)

    def __call__(self, *positional: Any, **kwargs: Any) -> CommandNode:
        where = f"component {self.name or os.path.basename(self.source)}"
        if positional:
            raise TypeError(
                f"{where}: pass inputs by name, e.g. {self.name or 'component'}({next(iter(self._model.inputs), 'input')}=...)"
            )
        for key in kwargs:
            if key not in self._model.inputs:
                raise TypeError(
                    f"{where} got an unexpected keyword argument {key!r}{args.did_you_mean(key, self._model.inputs)}"
                )
        step = models.CommandStep(
            component=self.source, resources=models.Resources(), tags={}, properties={}, environment_variables={}
        )
        node = CommandNode(step, dict(self._model.inputs), dict(self._model.outputs), self.name)
        for key, value in kwargs.items():
            node.inputs[key].bind(value)
        node._join_pipeline()
        return node

    def __repr__(self) -> str:
        return f"CommandComponent(name={self.name!r}, source={self.source!r})"


def load_component(source: Any = None, **kwargs: Any) -> CommandComponent:
    """Load a commandComponent YAML (Azure ``azure.ai.ml.load_component``).
    A relative ``source`` is relative to the current directory. Problems in
    the file raise ``pjob.spec.errors.UserError`` naming the file, line and field."""
    args.reject_unknown(
        "load_component()",
        kwargs,
        ["source"],
        {
            "client": "components are read from local files",
            "params_override": "set attributes on the returned steps instead",
            "relative_origin": "not supported",
        },
    )
    if source is None:
        raise TypeError("load_component(): argument 'source' is required: the path of a commandComponent YAML")
    path = paths.absolute(os.fspath(source))
    data, lines = yamlio.load_yaml(path)
    if isinstance(data, dict) and data.get("type") == "parallel":
        raise errors.UserError(
            "parallel component YAML is not supported by load_component; build the step with parallel_run_function(...)",
            file=path,
            field="type",
        )
    if not isinstance(data, dict):
        raise errors.UserError("a commandComponent YAML must be a mapping", file=path)
    try:
        model = models.CommandComponent.model_validate(data)
    except pydantic.ValidationError as exc:
        raise errors.UserError(
            [
                errors.Problem(path, yamlio.line_of(lines, p), ".".join(map(str, p)), msg)
                for p, msg in load.model_problems(exc, data, models.CommandComponent)
            ]
        ) from None
    return CommandComponent(model, path)
