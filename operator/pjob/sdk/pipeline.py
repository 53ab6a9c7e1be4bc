"""``@pipeline()`` (Azure ``azure.ai.ml.dsl.pipeline``), which returns a ``PipelineJob``
(``pjob.sdk.pipeline_job``).

Calling a decorated function runs its body once with each parameter replaced
by a ``PipelineInput``; every step made by calling a step or component meanwhile joins it, named
as Azure names it (a name set on the step, else its variable name, else its
component name with ``_1``, ``_2`` ... for repeats). The returned dict of step
outputs becomes the pipeline's outputs. ``PipelineJob.to_model()`` produces
``pjob.spec.models.PipelineJob`` through the same validation as a YAML file
(``pjob.spec.load.load_data``), and ``dump()`` writes that YAML.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from pjob.sdk import args, io, nodes
from pjob.sdk.pipeline_job import SETTINGS, PipelineJob, PipelineOutput
from pjob.spec import models

_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


# -- building --------------------------------------------------------------
def _call_collecting_locals(func: Callable, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``func(**kwargs)``; return its result and its local variables at return."""
    captured: dict[str, Any] = {}
    code = func.__code__
    previous = sys.getprofile()

    def profiler(frame, event, arg):
        if event == "return" and frame.f_code is code:
            captured.clear()
            captured.update(frame.f_locals)
        if previous:
            previous(frame, event, arg)

    sys.setprofile(profiler)
    try:
        result = func(**kwargs)
    finally:
        sys.setprofile(previous)
    return result, captured


def _sanitize(name: str) -> str:
    name = re.sub(r"\W", "_", name.strip())
    return name if name and not name[0].isdigit() else "_" + name


def name_steps(created: list[nodes.Node], local_vars: dict[str, Any], pipeline_name: str) -> dict[str, nodes.Node]:
    """Azure's naming rules: a name the user set (``step.name = ...``), else
    the variable the step was assigned to, else its component name (the
    ``name=`` of ``parallel_run_function``/``command``, or the component
    YAML's; ``_1``, ``_2`` ... for repeats, continuing from a named step of the
    same component). Azure's own runs of its samples name steps by variable."""
    members = {id(n) for n in created}
    chosen: dict[int, str] = {}
    for var, value in local_vars.items():
        if isinstance(value, nodes.Node) and id(value) in members and id(value) not in chosen:
            name = value.name or var
            if name == "_":
                continue
            if name in chosen.values():
                raise ValueError(
                    f"@pipeline {pipeline_name}: two steps are named {name!r}; give one of them another name (step.name = '...')"
                )
            chosen[id(value)] = name
    named_after: dict[str, str] = {}
    for node in created:
        if id(node) in chosen and node.component_name:
            named_after[node.component_name] = chosen[id(node)]
    counts: dict[str, int] = {name: 1 for name in chosen.values()}
    result: dict[str, nodes.Node] = {}
    for node in created:
        if id(node) not in chosen:
            target = node.name or node.component_name or type(node).__name__.lower()
            if node.name is None and target in named_after:
                target = named_after[target]
            counts[target] = counts.get(target, 0) + 1
            name = _sanitize(target) + ("" if counts[target] == 1 else f"_{counts[target] - 1}")
            if name in result:
                raise ValueError(
                    f"@pipeline {pipeline_name}: two steps are named {name!r}; set step.name on one of them"
                )
            chosen[id(node)] = name
        name = chosen[id(node)]
        if not _NODE_NAME.match(name):
            raise ValueError(
                f"@pipeline {pipeline_name}: step name {name!r} is not valid; use letters, digits and _ (starting with a letter or _)"
            )
        node.name = name
        result[name] = node
    return result


def _with_defined_steps(created: list[nodes.Node], local_vars: dict[str, Any], first_seq: int) -> list[nodes.Node]:
    """The steps made by calls, plus steps defined in the function body and
    never called (``cmd = command(...)`` with its inputs given): Azure would
    drop those silently; pjob keeps them. Templates that were called, and
    steps made before the function ran, are not added."""
    members = {id(n) for n in created}
    extra = [
        v
        for v in local_vars.values()
        if isinstance(v, nodes.Node) and id(v) not in members and not v._called and v._seq >= first_seq
    ]
    unique = {id(n): n for n in [*created, *extra]}
    return sorted(unique.values(), key=lambda n: n._seq)


def _as_annotated(value: Any, annotation: Any) -> Any:
    """Azure lets a parameter be annotated with an Input (``def p(data:
    Input(type="mltable"))``): a path given as a string becomes that Input."""
    if isinstance(annotation, io.Input) and isinstance(value, str) and annotation.type not in models.LITERAL_TYPES:
        return io.Input(type=annotation.type, path=value, mode=annotation.mode, description=annotation.description)
    if isinstance(annotation, io.Input) and value is None and annotation.default is not None:
        return annotation.default
    return value


def _paths_given_as_strings(values: dict[str, Any], steps: dict[str, nodes.Node]) -> None:
    """A pipeline argument given as a plain string but bound to a data input
    of a step is that data's path: make it ``Input(type=<the step's type>,
    path=...)`` (relative to the current directory, as ``Input`` would)."""
    for node in steps.values():
        for port in node.inputs.values():
            given = port._data
            if isinstance(given, nodes.PipelineInput) and port.is_data and isinstance(values.get(given._name), str):
                values[given._name] = io.Input(type=port._spec.type, path=values[given._name])


def _pipeline_outputs(returned: Any, steps: dict[str, nodes.Node], pipeline_name: str) -> dict[str, PipelineOutput]:
    if returned is None:
        return {}
    if not isinstance(returned, dict):
        raise TypeError(
            f"@pipeline {pipeline_name}: the function must return a dict of output name -> step.outputs.<name> (or nothing), got {type(returned).__name__}"
        )
    members = {id(n) for n in steps.values()}
    outputs: dict[str, PipelineOutput] = {}
    for key, port in returned.items():
        if not isinstance(key, str) or not isinstance(port, nodes.NodeOutput):
            raise TypeError(
                f"@pipeline {pipeline_name}: returned {key!r} must map to a step output (step.outputs.<name>), got {type(port).__name__}"
            )
        if id(port._owner) not in members:
            raise ValueError(
                f"@pipeline {pipeline_name}: returned {key!r} is an output of a step created outside this pipeline"
            )
        if port._pipeline_output is not None:
            raise ValueError(
                f"@pipeline {pipeline_name}: step output {port._port!r} is returned twice ({port._pipeline_output!r} and {key!r})"
            )
        object.__setattr__(port, "_pipeline_output", key)
        outputs[key] = PipelineOutput(key, port._spec.model_copy(deep=True))  # Azure copies the step's output settings
    return outputs


def pipeline(
    func: Callable | None = None,
    *,
    name: str | None = None,
    version: str | None = None,
    display_name: str | None = None,
    description: str | None = None,
    experiment_name: str | None = None,
    tags: dict[str, Any] | None = None,
    **kwargs: Any,
):
    """Decorator building a pipeline from a function (Azure ``dsl.pipeline``).
    Extra settings: default_compute (also compute/default_compute_target),
    default_datastore, continue_on_step_failure, force_rerun."""
    known = [
        "name",
        "version",
        "display_name",
        "description",
        "experiment_name",
        "tags",
        "compute",
        "default_compute_target",
        *SETTINGS,
    ]
    args.reject_unknown(
        "pipeline()",
        kwargs,
        known,
        {"on_init": "init/finalize steps are not supported", "on_finalize": "init/finalize steps are not supported"},
    )
    settings: dict[str, Any] = {k: kwargs[k] for k in SETTINGS if kwargs.get(k) is not None}
    compute = kwargs.get("default_compute") or kwargs.get("default_compute_target") or kwargs.get("compute")
    if compute:
        settings["default_compute"] = compute
    args.validate(models.PipelineSettings, settings, "pipeline()")

    def decorate(fn: Callable) -> Callable[..., PipelineJob]:
        if not callable(fn):
            raise TypeError(f"@pipeline decorates a function, got {type(fn).__name__}")
        signature = inspect.signature(fn)
        for param in signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(
                    f"@pipeline {fn.__name__}: *args/**kwargs parameters are not supported; name each pipeline input"
                )
        job_display = display_name or name or fn.__name__

        @functools.wraps(fn)
        def build(*call_args: Any, **call_kwargs: Any) -> PipelineJob:
            if nodes._COLLECTING:
                raise NotImplementedError(
                    f"@pipeline {fn.__name__} called inside another @pipeline: nested pipelines are not supported by pjob; put the steps in one pipeline"
                )
            for key in call_kwargs:
                if key not in signature.parameters:
                    raise TypeError(
                        f"{fn.__name__}() got an unexpected keyword argument {key!r}{args.did_you_mean(key, signature.parameters)}"
                    )
            bound = signature.bind(*call_args, **call_kwargs)
            bound.apply_defaults()
            values: dict[str, Any] = {}
            for key, value in bound.arguments.items():
                if isinstance(value, os.PathLike):
                    value = os.fspath(value)
                if value is not None and not isinstance(value, (io.Input, str, bool, int, float)):
                    raise TypeError(
                        f"{fn.__name__}(): argument {key!r} must be an Input or a literal (str, int, float, bool), got {type(value).__name__}"
                    )
                values[key] = _as_annotated(value, signature.parameters[key].annotation)
            created: list[nodes.Node] = []
            first_seq = next(nodes._SEQUENCE)
            nodes._COLLECTING.append(created)
            try:
                returned, local_vars = _call_collecting_locals(
                    fn, {k: nodes.PipelineInput(k, v) for k, v in values.items()}
                )
            finally:
                nodes._COLLECTING.pop()
            steps = name_steps(_with_defined_steps(created, local_vars, first_seq), local_vars, fn.__name__)
            _paths_given_as_strings(values, steps)
            if not steps:
                raise ValueError(
                    f"@pipeline {fn.__name__}: no steps were created; call parallel_run_function/command/component functions inside it"
                )
            outputs = _pipeline_outputs(returned, steps, fn.__name__)
            return PipelineJob(
                jobs=steps,
                inputs=values,
                outputs=outputs,
                settings=models.PipelineSettings(**settings),
                source=fn.__name__,
                display_name=job_display,
                description=description or (inspect.getdoc(fn) or None),
                experiment_name=experiment_name,
                tags=dict(tags) if tags else None,
            )

        build.__dict__["_is_dsl_func"] = True  # as Azure marks it
        return build

    return decorate(func) if func is not None else decorate


__all__ = ["pipeline", "PipelineJob", "PipelineOutput", "name_steps"]
