"""Load a job YAML into validated models, with errors a person can act on.

``load_job(path)`` -> ``LoadedJob``: the ``PipelineJob`` model (a top-level
``type: parallel`` or ``type: command`` job is wrapped as a one-step
pipeline), the file's folder (relative paths resolve against it), the key->line
map, and each ``component:`` step's loaded ``CommandComponent``. Every problem
becomes a ``Problem(file, line, field, message)``; the caller decides whether
to raise (``LoadedJob.raise_if_problems``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from typing import Any

import pydantic

from pjob.spec import errors, models, yamlio


@dataclasses.dataclass
class LoadedComponent:
    model: models.CommandComponent
    file: str
    lines: yamlio.Lines


@dataclasses.dataclass
class LoadedJob:
    job: models.PipelineJob | None
    file: str
    base_dir: str
    lines: yamlio.Lines
    components: dict[str, LoadedComponent] = dataclasses.field(default_factory=dict)
    problems: list[errors.Problem] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    wrapped: str | None = None  # "parallel"/"command" when a single step was wrapped

    def problem(self, path: tuple, message: str, *, file: str | None = None, lines: yamlio.Lines | None = None) -> None:
        lines = self.lines if lines is None else lines
        if self.wrapped and file is None and path[:1] == ("jobs",):
            line = yamlio.line_of(lines, path[2:])
        else:
            line = yamlio.line_of(lines, path)
        self.problems.append(errors.Problem(file or self.file, line, ".".join(str(p) for p in path), message))

    def raise_if_problems(self) -> None:
        if self.problems:
            raise errors.UserError(self.problems)

    def resolve(self, rel: str) -> str:
        return rel if os.path.isabs(rel) else os.path.normpath(os.path.join(self.base_dir, rel))


def _unwrap(tp: Any) -> list[Any]:
    """Model classes reachable from an annotation (through Optional, Union,
    Annotated, dict values, list items)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None), dict, list):
        args = typing.get_args(tp)
        if origin is dict:
            args = args[1:]
        return [m for a in args for m in _unwrap(a)]
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return [tp]
    return []


def _model_for(root: type[pydantic.BaseModel], loc: tuple) -> type[pydantic.BaseModel] | None:
    """The model class whose field the last element of ``loc`` would be."""
    candidates: list[Any] = [root]
    current: type[pydantic.BaseModel] | None = root
    for part in loc[:-1]:
        by_name = {c.__name__: c for c in candidates}
        tags = {c.model_fields["type"].default: c for c in candidates if "type" in c.model_fields}
        if part in by_name or part in tags:
            current = by_name.get(part) or tags[part]
            candidates = [current]
            continue
        nxt = []
        for c in candidates:
            if part in c.model_fields:
                nxt.extend(_unwrap(c.model_fields[part].annotation))
        if nxt:
            candidates = nxt
        # dict keys / list indexes keep the candidates (values' models)
        current = candidates[0] if len(candidates) == 1 else None
    return current


def _data_path(data: Any, loc: tuple) -> tuple[tuple, bool]:
    """Strip union/discriminator tags from a pydantic loc, keeping only parts
    that exist in the user's data. Returns (path, value_is_mapping)."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and part not in node and part == loc[-1]:
            path.append(part)  # a missing key: still name it
    return tuple(path), isinstance(node, dict)


_SCALAR_TAGS = {"bool", "int", "float", "str"}
_MODEL_TAGS = {"DataInput", "DataOutput", "Environment"}


def _wrong_branch(data: Any, loc: tuple) -> bool:
    """True for an error from the Union branch that does not match the
    user's value (a mapping is judged by the model branch, a scalar by the
    scalar branches), so each mistake is reported once."""
    for i, part in enumerate(loc):
        if str(part) in _SCALAR_TAGS | _MODEL_TAGS:
            _, is_map = _data_path(data, loc[:i])
            return is_map == (str(part) in _SCALAR_TAGS)
    return False


def _message(err: dict, root: type[pydantic.BaseModel]) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_for(root, loc)
        known = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else (f"allowed keys: {', '.join(known)}" if known else "remove it")
        return f"unknown key {key!r}; {hint}"
    if kind == "missing":
        return "required key is missing; add it"
    if kind == "union_tag_invalid":
        return f"unknown step type {err.get('input', {}).get('type')!r}; use type: parallel or type: command"
    if kind == "union_tag_not_found":
        return "step has no 'type'; add type: parallel or type: command"
    msg = err["msg"].removeprefix("Value error, ")
    given = err.get("input")
    if kind.startswith("literal_error") or kind in ("greater_than", "greater_than_equal", "less_than_equal", "int_parsing", "int_type", "string_type", "bool_type", "bool_parsing", "float_type", "float_parsing", "int_from_float", "dict_type", "list_type"):
        return f"got {given!r}; {msg[0].lower() + msg[1:]}"
    return msg


def model_problems(exc: pydantic.ValidationError, data: Any, root: type[pydantic.BaseModel]) -> list[tuple[tuple, str]]:
    """(data path, message) for each pydantic error, de-duplicated across
    union branches (a mapping value is reported only by the model branch)."""
    out: list[tuple[tuple, str]] = []
    seen = set()
    errs = exc.errors()
    for err in errs:
        loc = err["loc"]
        if _wrong_branch(data, loc):
            continue
        path, _ = _data_path(data, loc)
        if any(str(part) in _SCALAR_TAGS for part in loc):
            msg = f"got {err.get('input')!r}; use a literal (string, number, boolean), a ${{{{...}}}} binding, or a mapping with type and path"
        else:
            msg = _message(err, root)
        if (path, msg) not in seen:
            seen.add((path, msg))
            out.append((path, msg))
    return out


def _wrap_single(data: dict) -> tuple[dict, str]:
    kind = data.get("type")
    step = {k: v for k, v in data.items() if k not in ("$schema", "experiment_name", "settings")}
    name = str(data.get("name") or kind)
    wrapped = {"type": "pipeline", "name": data.get("name"), "display_name": data.get("display_name"), "jobs": {name: step}}
    if data.get("experiment_name"):
        wrapped["experiment_name"] = data["experiment_name"]
    return {k: v for k, v in wrapped.items() if v is not None}, name


def load_component(loaded: LoadedJob, step: str, rel: str) -> None:
    path = loaded.resolve(rel)
    field = ("jobs", step, "component")
    if not os.path.isfile(path):
        loaded.problem(field, f"component file {rel!r} not found (looked at {path}); fix the path (relative to the pipeline file)")
        return
    try:
        data, lines = yamlio.load_yaml(path)
    except errors.UserError as exc:
        loaded.problems.extend(exc.problems)
        return
    if not isinstance(data, dict):
        loaded.problems.append(errors.Problem(path, 1, "", "a commandComponent YAML must be a mapping"))
        return
    try:
        comp = models.CommandComponent.model_validate(data)
    except pydantic.ValidationError as exc:
        for p, msg in model_problems(exc, data, models.CommandComponent):
            loaded.problems.append(errors.Problem(path, yamlio.line_of(lines, p), ".".join(map(str, p)), msg))
        return
    loaded.components[step] = LoadedComponent(comp, path, lines)


def load_data(data: Any, file: str, lines: yamlio.Lines) -> LoadedJob:
    loaded = LoadedJob(None, file, os.path.dirname(os.path.abspath(file)), lines)
    if not isinstance(data, dict):
        loaded.problem((), "a job YAML must be a mapping with type: pipeline (or parallel/command)")
        return loaded
    kind = data.get("type", "pipeline")
    if kind in ("parallel", "command"):
        data, _ = _wrap_single(data)
        loaded.wrapped = kind
    elif kind != "pipeline":
        loaded.problem(("type",), f"unknown job type {kind!r}; use pipeline, parallel or command")
        return loaded
    try:
        loaded.job = models.PipelineJob.model_validate(data)
    except pydantic.ValidationError as exc:
        for path, msg in model_problems(exc, data, models.PipelineJob):
            loaded.problem(path, msg)
        return loaded
    for name, step in loaded.job.jobs.items():
        if isinstance(step, models.CommandStep) and step.component:
            load_component(loaded, name, step.component)
    return loaded


def load_job(path: str) -> LoadedJob:
    """Read and model-validate ``path``; semantic checks are ``pjob.spec.checks``."""
    data, lines = yamlio.load_yaml(path)
    return load_data(data, path, lines)
