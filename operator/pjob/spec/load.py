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
import os
import typing
from typing import Any

import pydantic
import pydantic_core

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

    def problem(
        self,
        path: tuple,
        message: str,
        *,
        file: str | None = None,
        lines: yamlio.Lines | None = None,
        find: str | None = None,
    ) -> None:
        """Record a problem at ``path``; ``find`` names text inside the value
        (a flag in a multi-line ``program_arguments``) whose own line is meant."""
        lines = self.lines if lines is None else lines
        if self.wrapped and file is None and path[:1] == ("jobs",):
            path = path[2:]  # a single-step file has no jobs: key; name fields as written
        line = yamlio.line_of(lines, path)
        if find and line:
            line = yamlio.line_within(file or self.file, lines, line, find) or line
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


_SCALAR_TAGS = {"bool", "int", "float", "str"}
_MODEL_TAGS = {"DataInput", "DataOutput", "Environment"}
_STEP_TAGS = {"parallel", "command"}


def _tag_positions(loc: tuple, root: type[pydantic.BaseModel]) -> set[int]:
    """Indexes of pydantic's union/discriminator tags in ``loc`` (by position,
    so a user key that happens to be named like a tag is never mistaken)."""
    tags = set()
    for i, part in enumerate(loc):
        prev = loc[i - 1] if i else None
        prev2 = loc[i - 2] if i > 1 else None
        if root is models.PipelineJob and i == 2 and loc[0] == "jobs" and part in _STEP_TAGS:
            tags.add(i)
        elif prev2 in ("inputs", "outputs") and (i - 2 not in tags) and str(part) in _SCALAR_TAGS | _MODEL_TAGS:
            tags.add(i)
        elif prev == "environment" and str(part) in ("Environment", "str"):
            tags.add(i)
    return tags


def _data_path(loc: tuple, root: type[pydantic.BaseModel]) -> tuple:
    tags = _tag_positions(loc, root)
    return tuple(part for i, part in enumerate(loc) if i not in tags)


def _value_at(data: Any, path: tuple) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _wrong_branch(data: Any, loc: tuple, root: type[pydantic.BaseModel]) -> tuple[bool, bool]:
    """(skip, scalar_branch): skip an error from the Union branch that does
    not match the user's value (a mapping is judged by the model branch, a
    scalar by the scalar branches), so each mistake is reported once."""
    for i in sorted(_tag_positions(loc, root)):
        part = str(loc[i])
        if part in _SCALAR_TAGS | _MODEL_TAGS:
            is_map = isinstance(_value_at(data, _data_path(loc[:i], root)), dict)
            scalar = part in _SCALAR_TAGS
            return is_map == scalar, scalar
    return False, False


def _message(err: pydantic_core.ErrorDetails, root: type[pydantic.BaseModel]) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_for(root, loc)
        known = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
        import difflib  # only for an unknown key: not on every run's import path

        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = (
            f"did you mean {close[0]!r}?" if close else (f"allowed keys: {', '.join(known)}" if known else "remove it")
        )
        return f"unknown key {key!r}; {hint}"
    if kind == "missing":
        return "required key is missing; add it"
    if kind in ("model_attributes_type", "dict_type", "model_type") and loc[:1] == ("jobs",) and len(loc) == 2:
        return f"got {err.get('input')!r}; a step must be a mapping with type: parallel or type: command"
    if kind in ("model_attributes_type", "model_type"):
        return f"got {err.get('input')!r}; expected a mapping (key: value lines)"
    if kind == "union_tag_invalid":
        return f"unknown step type {err.get('input', {}).get('type')!r}; use type: parallel or type: command"
    if kind == "union_tag_not_found":
        return "step has no 'type'; add type: parallel or type: command"
    msg = err["msg"].removeprefix("Value error, ")
    given = err.get("input")
    if kind.startswith("literal_error") or kind in (
        "greater_than",
        "greater_than_equal",
        "less_than_equal",
        "int_parsing",
        "int_type",
        "string_type",
        "bool_type",
        "bool_parsing",
        "float_type",
        "float_parsing",
        "int_from_float",
        "dict_type",
        "list_type",
    ):
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
        skip, scalar = _wrong_branch(data, loc, root)
        if skip:
            continue
        path = _data_path(loc, root)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = path + ("type",)
        if scalar:
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
    wrapped = {
        "type": "pipeline",
        "name": data.get("name"),
        "display_name": data.get("display_name"),
        "jobs": {name: step},
    }
    if data.get("experiment_name"):
        wrapped["experiment_name"] = data["experiment_name"]
    return {k: v for k, v in wrapped.items() if v is not None}, name


def load_component(loaded: LoadedJob, step: str, rel: str) -> None:
    path = loaded.resolve(rel)
    field = ("jobs", step, "component")
    if not os.path.isfile(path):
        loaded.problem(
            field, f"component file {rel!r} not found (looked at {path}); fix the path (relative to the pipeline file)"
        )
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
