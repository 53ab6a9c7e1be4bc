"""Binding expressions of Azure ML job YAML: parse, check and substitute.

Supported: ``${{inputs.x}}``, ``${{outputs.x}}``, ``${{parent.inputs.x}}``,
``${{parent.outputs.x}}``, ``${{parent.jobs.<step>.outputs.<out>}}``,
``${{name}}``, ``${{default_datastore}}``, and ``$[[ ... ]]`` optional blocks
(kept only when every input they reference has a value). Pure functions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.S)
AZUREML_DATASTORE = re.compile(r"^azureml://(?:.*/)?datastores/(?P<ds>[^/]+)/paths/?(?P<path>.*)$")


def expression(inner: str) -> str:
    """``inner`` as a binding: ``parent.inputs.x`` -> ``${{parent.inputs.x}}``."""
    return "${{" + inner + "}}"


@dataclasses.dataclass(frozen=True)
class Ref:
    """One parsed ``${{...}}`` expression."""

    scope: str  # inputs | outputs | parent.inputs | parent.outputs | parent.jobs | name | default_datastore
    name: str = ""  # input/output name (for parent.jobs: the output name)
    step: str = ""  # for parent.jobs

    @property
    def text(self) -> str:
        if self.scope == "parent.jobs":
            return expression(f"parent.jobs.{self.step}.outputs.{self.name}")
        if self.name:
            return expression(f"{self.scope}.{self.name}")
        return expression(self.scope)


class BindingError(ValueError):
    pass


_IDENT = r"[A-Za-z_][A-Za-z0-9_\-]*"
_FORMS = [
    (re.compile(rf"^(inputs|outputs)\.({_IDENT})$"), lambda m: Ref(m[1], m[2])),
    (re.compile(rf"^parent\.(inputs|outputs)\.({_IDENT})$"), lambda m: Ref("parent." + m[1], m[2])),
    (re.compile(rf"^parent\.jobs\.({_IDENT})\.outputs\.({_IDENT})$"), lambda m: Ref("parent.jobs", m[2], m[1])),
    (re.compile(r"^(name|default_datastore)$"), lambda m: Ref(m[1])),
]


def parse_expr(expr: str) -> Ref:
    for pattern, make in _FORMS:
        m = pattern.match(expr.strip())
        if m:
            return make(m)
    raise BindingError(
        f"unknown binding {expression(expr)}; use ${{{{inputs.<name>}}}}, ${{{{outputs.<name>}}}}, "
        "${{parent.inputs.<name>}}, ${{parent.outputs.<name>}}, ${{parent.jobs.<step>.outputs.<name>}}, ${{name}} "
        "or ${{default_datastore}}"
    )


def unclosed_optional(text: object) -> bool:
    """True when ``text`` has a ``$[[`` without its ``]]``."""
    return isinstance(text, str) and "$[[" in OPTIONAL.sub("", text)


def refs(text: object) -> list[Ref]:
    """Every binding in ``text`` (non-strings have none). Raises BindingError."""
    if not isinstance(text, str):
        return []
    return [parse_expr(m.group(1)) for m in EXPR.finditer(text)]


def whole_ref(text: object) -> Ref | None:
    """The binding when ``text`` is exactly one ``${{...}}`` and nothing else."""
    if isinstance(text, str):
        m = EXPR.fullmatch(text.strip())
        if m:
            return parse_expr(m.group(1))
    return None


def resolve_optional(text: str, lookup: Callable[[Ref], str | None]) -> str:
    """Drop ``$[[...]]`` blocks whose bindings have no value and unwrap the
    others, leaving their ``${{...}}`` in place (to substitute per argument)."""

    def block(m: re.Match) -> str:
        inner = m.group(1)
        return "" if any(lookup(r) is None for r in refs(inner)) else inner

    return OPTIONAL.sub(block, text)


def split_arguments(text: str, lookup: Callable[[Ref], str | None]) -> list[str]:
    """program_arguments -> argv: split first, then substitute inside each
    argument, so a value with spaces or quotes stays one argument and quotes
    the user wrote around a binding are not doubled."""
    import shlex

    return [substitute(token, lookup) for token in shlex.split(resolve_optional(text, lookup))]


def substitute(text: str, lookup: Callable[[Ref], str | None]) -> str:
    """Replace bindings using ``lookup``; ``$[[...]]`` blocks whose bindings
    have no value (lookup returns None) are dropped, others are unwrapped.
    A binding outside an optional block with no value raises BindingError."""

    def optional_block(m: re.Match) -> str:
        inner = m.group(1)
        values = {r: lookup(r) for r in refs(inner)}
        if any(v is None for v in values.values()):
            return ""
        return EXPR.sub(lambda e: str(values[parse_expr(e.group(1))]), inner)

    text = OPTIONAL.sub(optional_block, text)

    def required(m: re.Match) -> str:
        ref = parse_expr(m.group(1))
        value = lookup(ref)
        if value is None:
            raise BindingError(f"{ref.text} has no value; give the input a value or wrap the argument in $[[ ... ]]")
        return str(value)

    return EXPR.sub(required, text)


def parse_datastore_uri(uri: str) -> tuple[str, str] | None:
    """``azureml://datastores/<ds>/paths/<p>`` -> (ds, p); anything else -> None."""
    m = AZUREML_DATASTORE.match(uri or "")
    return (m["ds"], m["path"]) if m else None
