"""Resolve a checked pipeline's bindings into concrete values, step by step.

Pure: the caller supplies where things live (``Locations``: the run folder for
default outputs and a ``locate`` function turning a path/URI into a concrete
location, e.g. ``pjob.data.resolve_uri`` with the datastores). Used by the
local driver and the operator, so both bind a pipeline the same way.

Default output locations: ``<outputs_root>/<step>/outputs/<name>`` (a folder
for uri_folder/mltable, a file of that name for uri_file). A step output bound
to ``${{parent.outputs.x}}`` goes where the pipeline output says, else to
``<outputs_root>/../outputs/<x>`` (``Locations.pipeline_output``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable

from pjob.spec import bindings, checks, errors, load, models, yamlio

Literal = str | int | float | bool


@dataclasses.dataclass
class DataValue:
    type: str  # uri_folder | uri_file | mltable | ...
    location: str  # local path or URL
    mode: str | None = None

    def __str__(self) -> str:
        return self.location


Value = DataValue | Literal | None  # None: an optional input left unset


@dataclasses.dataclass
class Locations:
    outputs_root: str  # e.g. <run>/steps
    locate: Callable[[str], str] = lambda p: p  # datastore URI / URL / path -> concrete location
    job_name: str = "job"
    default_datastore: str = "default"

    def pipeline_output(self, name: str) -> str:
        """Default place of a pipeline-level output: ``<run>/outputs/<name>`` beside
        ``<run>/steps`` (inside it, a step named ``outputs`` would collide); under
        another outputs root, ``<root>/.pipeline/<name>`` (no step is named so)."""
        root = os.path.normpath(self.outputs_root)
        if os.path.basename(root) == "steps":
            return os.path.join(os.path.dirname(root), "outputs", name)
        return os.path.join(root, ".pipeline", name)


@dataclasses.dataclass
class ResolvedStep:
    name: str
    kind: str  # parallel | command
    inputs: dict[str, Value]
    outputs: dict[str, DataValue]
    env: dict[str, str]
    command: str | None = None  # command steps, bindings substituted
    code_dir: str | None = None  # absolute
    argv: list[str] = dataclasses.field(
        default_factory=list
    )  # parallel steps: program_arguments, substituted and split

    def lookup(self, ref: bindings.Ref, locations: Locations) -> str | None:
        if ref.scope == "inputs":
            value = self.inputs.get(ref.name)
            return None if value is None else _text(value)
        if ref.scope == "outputs":
            out = self.outputs.get(ref.name)
            return None if out is None else out.location
        if ref.scope == "name":
            return locations.job_name
        if ref.scope == "default_datastore":
            return locations.default_datastore
        return None


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _expand_globals(text: str, locations: Locations) -> str:
    """${{name}} and ${{default_datastore}} inside paths."""
    return text.replace("${{name}}", locations.job_name).replace("${{default_datastore}}", locations.default_datastore)


def _place(path: str, base_dir: str, locations: Locations) -> str:
    # Azure SDK samples write paths as f-strings, so ${{name}} arrives as ${name}
    path = _expand_globals(
        path.replace("${name}", "${{name}}").replace("${default_datastore}", "${{default_datastore}}"), locations
    )
    return locations.locate(checks.local_path(path, base_dir) or path)


class Resolver:
    """Resolves steps in run order, remembering each step's outputs."""

    def __init__(self, loaded: load.LoadedJob, locations: Locations):
        assert loaded.job is not None  # a checked job
        self.loaded = loaded
        self.job: models.PipelineJob = loaded.job
        self.loc = locations
        self.step_outputs: dict[str, dict[str, DataValue]] = {}
        self.pipeline_inputs = {k: self._input(v, loaded.base_dir, None) for k, v in self.job.inputs.items()}

    def _input(self, value, base_dir: str, declared: models.DataInput | None) -> Value:
        if isinstance(value, models.DataInput):
            if value.path is not None:
                ref = bindings.whole_ref(value.path)
                if ref:
                    bound = self._bound(ref)
                    if isinstance(bound, DataValue):
                        return DataValue(value.type, bound.location, value.mode or bound.mode)
                    return bound
                return DataValue(value.type, _place(value.path, base_dir, self.loc), value.mode)
            literal = value.value if value.value is not None else value.default
            if literal is not None and value.type in models.DATA_TYPES:
                return DataValue(value.type, _place(str(literal), base_dir, self.loc), value.mode)
            return literal
        ref = bindings.whole_ref(value)
        if ref:
            bound = self._bound(ref)
            if declared is not None and isinstance(bound, DataValue) and declared.type in models.DATA_TYPES:
                return DataValue(declared.type, bound.location, declared.mode or bound.mode)
            return bound
        if isinstance(value, str) and declared is not None and declared.type in models.DATA_TYPES:
            return DataValue(declared.type, _place(value, base_dir, self.loc), declared.mode)
        return _expand_globals(value, self.loc) if isinstance(value, str) else value

    def _bound(self, ref: bindings.Ref) -> Value:
        if ref.scope == "parent.inputs":
            return self.pipeline_inputs.get(ref.name)
        if ref.scope == "parent.jobs":
            return self.step_outputs[ref.step][ref.name]
        if ref.scope == "name":
            return self.loc.job_name
        if ref.scope == "default_datastore":
            return self.loc.default_datastore
        raise ValueError(f"{ref.text} cannot be resolved here")

    def _output(self, step: str, name: str, value, declared: models.DataOutput | None) -> DataValue:
        out = self._output_value(step, name, value, declared)
        if checks.is_object_store(
            out.location
        ):  # the engine writes files: an s3:// path would become a local "s3:" folder
            raise errors.UserError(
                f"{out.location} is an object store: pjob writes outputs to folders (this machine's, or the cluster's "
                "shared volume), not to object stores yet; give a local path, or a datastore that is a folder "
                "(pjob run --datastore NAME=PATH)",
                field="path",
            )
        return out

    def _output_value(self, step: str, name: str, value, declared: models.DataOutput | None) -> DataValue:
        kind = (value.type if isinstance(value, models.DataOutput) else None) or (
            declared.type if declared else "uri_folder"
        )
        path = value.path if isinstance(value, models.DataOutput) else None
        ref = bindings.whole_ref(value) if isinstance(value, str) else bindings.whole_ref(path)
        if ref and ref.scope == "parent.outputs":
            parent = self.job.outputs.get(ref.name)
            parent_path = parent.path if isinstance(parent, models.DataOutput) else None
            if isinstance(parent, models.DataOutput) and parent.type and not isinstance(value, models.DataOutput):
                kind = parent.type
            if parent_path:
                return DataValue(kind, _place(parent_path, self.loaded.base_dir, self.loc))
            return DataValue(kind, self.loc.pipeline_output(ref.name))
        if path:
            return DataValue(kind, _place(path, self.loaded.base_dir, self.loc))
        return DataValue(kind, os.path.join(self.loc.outputs_root, step, "outputs", name))

    @contextlib.contextmanager
    def _field(self, step: str, section: str):
        """Name the YAML file and field in errors from ``locate`` (e.g. an
        unknown datastore)."""
        self._at = ""
        try:
            yield
        except errors.UserError as exc:
            path = ("jobs", step, section) + ((self._at,) if self._at else ())
            raise errors.UserError(
                [
                    errors.Problem(self.loaded.file, yamlio.line_of(self.loaded.lines, path), ".".join(path), p.message)
                    for p in exc.problems
                ]
            ) from None

    def resolve(self, name: str) -> ResolvedStep:
        step = self.job.jobs[name]
        comp = self.loaded.components.get(name)
        comp_dir = os.path.dirname(comp.file) if comp else self.loaded.base_dir
        declared_in = comp.model.inputs if comp else {}
        declared_out = comp.model.outputs if comp else {}
        inputs: dict[str, Value] = {}
        with self._field(name, "inputs"):
            for key, spec in declared_in.items():  # component defaults first
                if key not in step.inputs:
                    inputs[key] = self._input(spec, comp_dir, spec) if (spec.default is not None or spec.path) else None
            for key, value in step.inputs.items():
                self._at = key
                inputs[key] = self._input(value, self.loaded.base_dir, declared_in.get(key))
        with self._field(name, "outputs"):
            outputs = {}
            for key in {**declared_out, **step.outputs}:
                self._at = key
                outputs[key] = self._output(name, key, step.outputs.get(key), declared_out.get(key))
        self.step_outputs[name] = outputs
        resolved = ResolvedStep(name, step.type, inputs, outputs, {})
        sub = lambda text: bindings.substitute(text, lambda r: resolved.lookup(r, self.loc))  # noqa: E731
        env = {**((comp.model.environment_variables or {}) if comp else {}), **(step.environment_variables or {})}
        if isinstance(step, models.ParallelStep):
            env.update(step.task.environment_variables or {})
            code = step.task.code
            resolved.code_dir = (
                os.path.normpath(os.path.join(self.loaded.base_dir, code))
                if code
                else os.path.dirname(os.path.join(self.loaded.base_dir, step.task.entry_script))
            )
            resolved.argv = bindings.split_arguments(
                step.task.program_arguments or "", lambda r: resolved.lookup(r, self.loc)
            )
        else:
            command = comp.model.command if comp else step.command
            resolved.command = sub(command or "")
            code = step.code or (comp.model.code if comp else None)
            base = self.loaded.base_dir if step.code else comp_dir
            resolved.code_dir = os.path.normpath(os.path.join(base, code)) if code else None
        resolved.env = {k: sub(str(v)) for k, v in env.items()}
        return resolved


def resolve_pipeline(loaded: load.LoadedJob, locations: Locations) -> dict[str, ResolvedStep]:
    """Every step resolved, in run order (dict order)."""
    resolver = Resolver(loaded, locations)
    return {name: resolver.resolve(name) for name in checks.run_order(loaded)}
