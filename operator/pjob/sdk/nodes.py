"""Steps of an SDK pipeline and their input/output ports.

A ``Node`` is one step (``ParallelNode`` from ``parallel_run_function``,
``CommandNode`` from ``command``/``load_component``). It keeps its settings in
a validated ``pjob.spec.models`` step (attribute writes are validated too) and
one port per declared input/output. Calling a node with keyword arguments
returns a new node with those inputs bound - that is how a ``@pipeline``
function wires ``step_b(x=step_a.outputs.y)``. Steps made by such calls while
a ``@pipeline`` function runs are collected by ``pjob.sdk.pipeline``.
``render`` turns a node into the step mapping of the pipeline YAML.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pydantic

from pjob.sdk import args, io, paths
from pjob.sdk.ports import NodeInput, NodeOutput, PipelineInput, Ports, declared_input, declared_output
from pjob.spec import models
from pjob.spec.bindings import expression

__all__ = ["Node", "NodeInput", "NodeOutput", "PipelineInput", "Ports", "declared_input", "declared_output"]

# Node lists of the @pipeline functions currently running (innermost last).
_COLLECTING: list[list[Node]] = []
_SEQUENCE = itertools.count()  # creation order of steps (the order of jobs in the YAML)


class Node:
    """One step. Subclasses set ``_STEP_MODEL`` and implement ``render``."""

    _STEP_MODEL: type[pydantic.BaseModel]
    _KEYS_NOT_ATTRIBUTES = ("inputs", "outputs", "type")

    def __init__(
        self,
        step: pydantic.BaseModel,
        declared_inputs: dict[str, models.DataInput],
        declared_outputs: dict[str, models.DataOutput],
        component_name: str | None,
    ):
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_name", None)
        object.__setattr__(self, "_seq", next(_SEQUENCE))
        object.__setattr__(self, "_called", False)  # a template others were made from
        object.__setattr__(self, "_component_name", component_name)
        object.__setattr__(
            self, "inputs", Ports("inputs", {k: NodeInput(self, k, v) for k, v in declared_inputs.items()})
        )
        object.__setattr__(
            self, "outputs", Ports("outputs", {k: NodeOutput(self, k, v) for k, v in declared_outputs.items()})
        )

    def _join_pipeline(self) -> None:
        """As in Azure, a step joins the running @pipeline when it is made by
        calling a step or component (``step(x=...)``), not when it is defined."""
        if _COLLECTING:
            _COLLECTING[-1].append(self)

    @property
    def kind_label(self) -> str:
        return f"step {self._name or self._component_name or '?'}"

    @property
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"step name must be a string, got {type(value).__name__}")
        object.__setattr__(self, "_name", value)

    @property
    def component_name(self) -> str | None:
        return self._component_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, inputs={list(self.inputs)}, outputs={list(self.outputs)})"

    def _single_output(self, where: str) -> NodeOutput:
        outs = list(self.outputs)
        if len(outs) != 1:
            raise TypeError(
                f"{where}: a step given as an input must have exactly one output; pass step.outputs.<name> instead"
            )
        return self.outputs[outs[0]]

    def __getattr__(self, name: str) -> Any:
        step = self.__dict__.get("_step")
        if step is not None and name in type(step).model_fields and name not in self._KEYS_NOT_ATTRIBUTES:
            return getattr(step, name)
        known = [f for f in self._STEP_MODEL.model_fields if f not in self._KEYS_NOT_ATTRIBUTES]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}{args.did_you_mean(name, known)}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
            return
        if name in self._KEYS_NOT_ATTRIBUTES:
            raise AttributeError(f"set ports one by one: step.{name}.<port> = ...")
        args.assign(self._step, name, self._coerce(name, value), self.kind_label)

    def _coerce(self, name: str, value: Any) -> Any:
        if name == "resources" and isinstance(value, io.SpecBacked):  # ResourceConfiguration(...)
            return value._spec.model_dump(exclude_none=True)
        return value

    def set_resources(
        self,
        *,
        instance_count: int | None = None,
        instance_type: str | None = None,
        shm_size: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Azure's ``node.set_resources(...)``: instance_count is honoured; the rest is accepted for compatibility."""
        args.reject_unknown(
            "set_resources()",
            kwargs,
            ["instance_count", "instance_type", "shm_size"],
            {"docker_args": "pjob does not pass docker arguments", "locations": "not applicable outside Azure"},
        )
        data = self._step.resources.model_dump(exclude_unset=True) if self._step.resources else {}
        data.update(
            {
                k: v
                for k, v in dict(instance_count=instance_count, instance_type=instance_type, shm_size=shm_size).items()
                if v is not None
            }
        )
        self.resources = data

    # -- calling a node binds its inputs ---------------------------------
    def __call__(self, *positional: Any, **kwargs: Any) -> Node:
        if positional:
            raise TypeError(
                f"{self.kind_label}: pass inputs by name, e.g. step({next(iter(self.inputs), 'input')}=...)"
            )
        for key in kwargs:
            if key not in self.inputs:
                raise TypeError(
                    f"{self.kind_label} got an unexpected keyword argument {key!r}{args.did_you_mean(key, self.inputs)}"
                )
        object.__setattr__(self, "_called", True)
        node = self._copy()
        for key, value in kwargs.items():
            node.inputs[key].bind(value)
        return node

    def _copy(self) -> Node:
        node = copy.copy(self)
        object.__setattr__(node, "_seq", next(_SEQUENCE))
        object.__setattr__(node, "_called", False)
        object.__setattr__(node, "_step", self._step.model_copy(deep=True))
        ins = {}
        for key, port in self.inputs.items():
            new = NodeInput(node, key, port._spec)
            object.__setattr__(new, "_data", port._data)
            object.__setattr__(new, "_set", set(port._set))
            ins[key] = new
        outs = {}
        for key, out in self.outputs.items():
            new_out = NodeOutput(node, key, out._spec)
            object.__setattr__(new_out, "_set", set(out._set))
            outs[key] = new_out
        object.__setattr__(node, "inputs", Ports("inputs", ins))
        object.__setattr__(node, "outputs", Ports("outputs", outs))
        node._join_pipeline()
        return node

    # -- rendering ---------------------------------------------------------
    def render(self, names: dict[int, str], base_dir: str | None) -> dict[str, Any]:
        """The step mapping of the pipeline YAML. ``names`` maps ``id(node)``
        to step names (for ``${{parent.jobs...}}``); local paths are written
        relative to ``base_dir`` (absolute when None)."""
        raise NotImplementedError

    def _settings_dict(self) -> dict[str, Any]:
        out = self._step.model_dump(by_alias=True, exclude_none=True, exclude_unset=True)
        for key in self._KEYS_NOT_ATTRIBUTES:
            out.pop(key, None)
        for key in ("resources", "retry_settings", "limits", "tags", "properties", "environment_variables"):
            if out.get(key) == {}:
                del out[key]
        return out

    def _binding(self, value: Any, names: dict[int, str]) -> str:
        if isinstance(value, PipelineInput):
            return value.binding
        if id(value._owner) not in names:
            raise ValueError(
                f"{self.kind_label}: an input is bound to output {value._port!r} of a step that is not part of this pipeline; "
                "create that step inside the @pipeline function"
            )
        return expression(f"parent.jobs.{names[id(value._owner)]}.outputs.{value._port}")

    def _render_input(self, port: NodeInput, names: dict[int, str], base_dir: str | None, inline: bool) -> Any:
        """One input value; None means "leave it out" (component default)."""
        spec, data = port._spec, port._data
        mode = spec.mode if (inline or "mode" in port._set) else None
        if data is None:
            if not inline:
                return None
            if not spec.optional and spec.default is None:
                raise ValueError(
                    f"{self.kind_label}: input {port._port!r} has no value; pass {port._port}=... when calling the step "
                    f"or declare it Input(..., optional=True)"
                )
            return spec.model_dump(exclude_none=True)
        if isinstance(data, (NodeOutput, PipelineInput)):
            text = self._binding(data, names)
            if not port.is_data or (not inline and not port._set):
                return text
            out = {"type": spec.type, "path": text, "mode": mode, "description": spec.description if inline else None}
            return {k: v for k, v in out.items() if v is not None}
        if isinstance(data, io.Input):
            out = data._to_dict(base_dir)
            if "mode" in port._set or (inline and mode and "mode" not in out):
                out["mode"] = spec.mode
            if inline and spec.description and "description" not in out:
                out["description"] = spec.description
            return out
        if isinstance(data, str) and port.is_data:
            out = {
                "type": spec.type,
                "path": paths.render(data, base_dir),
                "mode": mode,
                "description": spec.description if inline else None,
            }
            return {k: v for k, v in out.items() if v is not None}
        return data

    def _render_output(self, port: NodeOutput, base_dir: str | None, inline: bool) -> Any:
        if port._pipeline_output:
            return expression(f"parent.outputs.{port._pipeline_output}")
        if not inline and not port._set:
            return None
        return port._to_dict(base_dir)

    def _render_ports(self, names: dict[int, str], base_dir: str | None, inline: bool) -> tuple[dict, dict]:
        ins = {k: self._render_input(p, names, base_dir, inline) for k, p in self.inputs.items()}
        outs = {k: self._render_output(p, base_dir, inline) for k, p in self.outputs.items()}
        return {k: v for k, v in ins.items() if v is not None}, {k: v for k, v in outs.items() if v is not None}
