"""Ports of SDK steps: what ``step.inputs.<name>`` and ``step.outputs.<name>``
are, what a ``@pipeline`` parameter is while the function runs
(``PipelineInput``), and how a builder's ``inputs=``/``outputs=`` entries
become declarations (Azure's ``_parse_input``/``_parse_output``). Used by
``pjob.sdk.nodes`` and the builders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pjob.sdk import args, io, paths
from pjob.spec import models
from pjob.spec.bindings import expression

if TYPE_CHECKING:
    from pjob.sdk.nodes import Node


class PipelineInput:
    """A ``@pipeline`` function's parameter while the function runs: passing
    it to a step binds that step's input to ``${{parent.inputs.<name>}}``."""

    def __init__(self, name: str, data: Any):
        self._name = name
        self._data = data

    @property
    def binding(self) -> str:
        return expression(f"parent.inputs.{self._name}")

    def result(self) -> Any:
        """The value given to the pipeline (Azure's ``PipelineInput.result()``)."""
        return self._data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not set yet (copy/pickle): no recursion through self._data
            raise AttributeError(name)
        if isinstance(self._data, io.Input) and name in models.DataInput.model_fields:
            return getattr(self._data, name)
        raise AttributeError(f"pipeline input {self._name!r} has no attribute {name!r}")

    def __str__(self) -> str:
        return self.binding

    __repr__ = __str__


class NodeOutput(io.SpecBacked):
    """``step.outputs.<name>``: set ``.type``, ``.mode``, ``.path``; pass it to
    another step to bind that step's input to this output."""

    _MODEL = models.DataOutput
    _PATH_FIELDS = ("path",)

    def __init__(self, owner: Node, port: str, spec: models.DataOutput):
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_port", port)
        object.__setattr__(self, "_spec", spec.model_copy(deep=True))
        object.__setattr__(self, "_set", set())  # fields the user set on this step
        object.__setattr__(self, "_pipeline_output", None)  # pipeline output name when returned by @pipeline
        object.__setattr__(self, "_WHAT", f"outputs.{port}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "mode" and value == "mount":
            value = "rw_mount"
        super().__setattr__(name, value)
        if not name.startswith("_"):
            self._set.add(name)

    # a port is one place in one step: identity, not value, equality
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def binding(self) -> str:
        return expression(f"parent.jobs.{self._owner.name or '<unnamed step>'}.outputs.{self._port}")

    def __str__(self) -> str:
        return self.binding


class NodeInput:
    """``step.inputs.<name>``: what is bound to the input (``.path`` or another
    step's output), plus ``.mode`` and ``.type`` settings for this step."""

    def __init__(self, owner: Node, port: str, declared: models.DataInput):
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_port", port)
        object.__setattr__(self, "_spec", declared.model_copy(deep=True))
        object.__setattr__(self, "_data", None)
        object.__setattr__(self, "_set", set())

    @property
    def is_data(self) -> bool:
        return self._spec.type not in models.LITERAL_TYPES

    def bind(self, value: Any) -> None:
        where = f"{self._owner.kind_label}: input {self._port!r}"
        if hasattr(value, "_single_output"):  # a step given as an input: its only output
            value = value._single_output(where)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, dict):
            value = io.Input(**value)
        if value is not None and not isinstance(value, (io.Input, NodeOutput, PipelineInput, str, bool, int, float)):
            raise TypeError(
                f"{where}: expected an Input, another step's output, a pipeline parameter or a literal (str, int, float, bool); got {type(value).__name__}"
            )
        if isinstance(value, str) and self.is_data and paths.is_local(value):
            value = paths.absolute(value)
        object.__setattr__(self, "_data", value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "path":
            data = self._data
            return (
                data.path
                if isinstance(data, io.Input)
                else (data.binding if isinstance(data, (NodeOutput, PipelineInput)) else data)
            )
        if name in ("type", "mode", "description", "optional", "default", "min", "max", "enum"):
            return getattr(self._spec, name)
        raise AttributeError(
            f"inputs.{self._port} has no attribute {name!r}{args.did_you_mean(name, ['path', 'type', 'mode', 'description', 'optional', 'default'])}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "path":
            self.bind(value)
            return
        if name == "mode" and value == "mount":
            value = "ro_mount"
        args.assign(self._spec, name, value, f"inputs.{self._port}")
        self._set.add(name)

    def result(self) -> Any:
        return self._data

    def __repr__(self) -> str:
        return f"NodeInput({self._port}={self._data!r})"


class Ports:
    """``step.inputs`` / ``step.outputs``: attribute and item access to ports;
    assigning binds an input (``step.inputs.x = other.outputs.y``) or copies
    an Output's settings onto an output."""

    def __init__(self, kind: str, ports: dict[str, Any]):
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_ports", ports)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        ports = self.__dict__["_ports"]
        if name in ports:
            return ports[name]
        raise AttributeError(f"this step has no {self._kind[:-1]} {name!r}{args.did_you_mean(name, ports)}")

    def __setattr__(self, name: str, value: Any) -> None:
        port = self.__getattr__(name)
        if isinstance(port, NodeInput):
            port.bind(value)
        elif isinstance(value, io.Output):
            for key, val in value._spec.model_dump(exclude_none=True).items():
                setattr(port, key, val)
        else:
            raise TypeError(f"{self._kind}.{name}: assign an Output(...) or set .type/.mode/.path")

    __getitem__ = __getattr__

    def __setitem__(self, name: str, value: Any) -> None:
        self.__setattr__(name, value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ports)

    def __len__(self) -> int:
        return len(self._ports)

    def __contains__(self, name: object) -> bool:
        return name in self._ports

    def keys(self):
        return self._ports.keys()

    def items(self):
        return self._ports.items()

    def values(self):
        return self._ports.values()


def declared_input(value: Any, where: str) -> tuple[models.DataInput, Any]:
    """(declaration, bound value) of one ``inputs=`` entry of a builder
    (Azure ``_parse_input``): an Input declares and, with a path or default,
    binds; a literal declares its type and binds itself."""
    if isinstance(value, dict):
        value = io.Input(**value)
    if isinstance(value, io.Input):
        spec = value._spec.model_copy(deep=True)
        if spec.type in models.DATA_TYPES or spec.type.endswith("_model"):
            bound = value if spec.path is not None else None
            spec.path = None
            return spec, bound
        return spec, None
    if isinstance(value, bool):
        return models.DataInput(type="boolean"), value
    if isinstance(value, int):
        return models.DataInput(type="integer"), value
    if isinstance(value, float):
        return models.DataInput(type="number"), value
    if isinstance(value, str):
        return models.DataInput(type="string"), value
    raise TypeError(
        f"{where}: expected Input(...), a dict or a literal (str, int, float, bool); got {type(value).__name__}"
    )


def declared_output(value: Any, where: str) -> models.DataOutput:
    if value is None or value == {}:
        return models.DataOutput()
    if isinstance(value, dict):
        value = io.Output(**value)
    if isinstance(value, io.Output):
        return value._spec.model_copy(deep=True)
    raise TypeError(f"{where}: expected Output(...) or a dict; got {type(value).__name__}")
