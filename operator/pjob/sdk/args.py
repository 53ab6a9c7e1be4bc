"""Argument checking shared by the SDK builders: unknown keyword arguments and
wrong values fail at construction with a message naming the argument (and the
closest known name for a typo). Pure helpers; called by every ``pjob.sdk``
constructor (``Input``, ``parallel_run_function``, ``command``, ...)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

import pydantic

from pjob.spec import load

_SCALAR_BRANCHES = {"bool", "int", "float", "str"}


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known arguments: {', '.join(sorted(known))}"


def reject_unknown(
    where: str, kwargs: dict[str, Any], known: Iterable[str], unsupported: dict[str, str] | None = None
) -> None:
    """Raise TypeError for the first keyword argument that ``where`` does not take.
    ``unsupported`` maps Azure-only argument names to why pjob does not take them."""
    known = list(known)
    for key in kwargs:
        if key in known:
            continue
        if unsupported and key in unsupported:
            raise TypeError(f"{where}: argument {key!r} is not supported by pjob: {unsupported[key]}")
        raise TypeError(f"{where} got an unexpected keyword argument {key!r}{did_you_mean(key, known)}")


def validate(
    model: type[pydantic.BaseModel], data: dict[str, Any], where: str, name_of: Callable[[tuple], str] | None = None
):
    """``model.model_validate(data)``; a failure becomes ValueError naming the
    argument (``name_of`` maps a field path to the argument's name)."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValueError(describe(exc, data, model, where, name_of)) from None


def describe(
    exc: pydantic.ValidationError,
    data: Any,
    model: type[pydantic.BaseModel],
    where: str,
    name_of: Callable[[tuple], str] | None = None,
) -> str:
    lines: list[str] = []
    for path, message in load.model_problems(exc, data, model):
        if path and str(path[-1]) in _SCALAR_BRANCHES:  # one message for a value no scalar branch accepts
            path, message = path[:-1], "use a string, a number or a boolean"
        arg = name_of(path) if name_of else ".".join(map(str, path))
        line = f"{where}: argument {arg!r}: {message}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines) or f"{where}: {exc}"


def assign(target: pydantic.BaseModel, field: str, value: Any, where: str) -> None:
    """Set ``target.field = value`` (the model validates on assignment); a bad
    value or an unknown field raises naming ``where.field``."""
    fields = type(target).model_fields
    if field not in fields:
        raise AttributeError(f"{where} has no attribute {field!r}{did_you_mean(field, fields)}")
    try:
        setattr(target, field, value)
    except pydantic.ValidationError as exc:
        msgs = "; ".join(msg for _, msg in load.model_problems(exc, {field: value}, type(target)))
        raise ValueError(f"{where}.{field} = {value!r}: {msgs or exc}") from None
