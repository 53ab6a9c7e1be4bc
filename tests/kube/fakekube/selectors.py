"""Label and field selectors of the fake Kubernetes API server (pure functions).

Parses `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and `fieldSelector`
(`metadata.name`, `metadata.namespace`, `status.phase`, `spec.nodeName`, `involvedObject.*`)
query strings the way the real API server does, and matches objects against them. Also turns a
`LabelSelector` object (matchLabels/matchExpressions) into a matcher, for Jobs and tests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from fakekube import errors

Matcher = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Requirement:
    """One clause of a selector: `key <op> values`; op is =, !=, in, notin, exists, !exists."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        raise AssertionError(self.op)


_SET_RE = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_clauses(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    clauses, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            clauses.append(current)
            current = ""
        else:
            current += char
    clauses.append(current)
    return [clause.strip() for clause in clauses if clause.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a `labelSelector` query value; raise a 400 ApiError on bad syntax."""
    if not text:
        return []
    requirements = []
    for clause in _split_clauses(text):
        set_match = _SET_RE.match(clause)
        if set_match:
            key, op, raw_values = set_match.groups()
            values = tuple(v.strip() for v in raw_values.split(",") if v.strip())
            requirements.append(Requirement(key, op, values))
        elif "!=" in clause:
            key, value = clause.split("!=", 1)
            requirements.append(Requirement(key.strip(), "!=", (value.strip(),)))
        elif "==" in clause or "=" in clause:
            key, value = clause.split("==", 1) if "==" in clause else clause.split("=", 1)
            requirements.append(Requirement(key.strip(), "=", (value.strip(),)))
        elif clause.startswith("!"):
            requirements.append(Requirement(clause[1:].strip(), "!exists"))
        elif re.fullmatch(r"[A-Za-z0-9_./-]+", clause):
            requirements.append(Requirement(clause, "exists"))
        else:
            raise errors.bad_request(f"unable to parse requirement: {clause!r} in labelSelector {text!r}")
    return requirements


def selector_object_requirements(selector: dict[str, Any] | None) -> list[Requirement]:
    """Requirements of a LabelSelector object ({matchLabels, matchExpressions})."""
    selector = selector or {}
    requirements = [Requirement(k, "=", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    op_names = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expression in selector.get("matchExpressions") or []:
        requirements.append(Requirement(expression["key"], op_names[expression["operator"]],
                                        tuple(expression.get("values") or ())))
    return requirements


def labels_match(requirements: list[Requirement], obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(requirement.matches(labels) for requirement in requirements)


def _field_value(obj: dict[str, Any], path: str) -> str | None:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return None if value is None else str(value)


def parse_field_selector(text: str | None) -> list[Requirement]:
    """Parse a `fieldSelector` (only `=`, `==`, `!=` exist for fields)."""
    if not text:
        return []
    requirements = []
    for clause in _split_clauses(text):
        if "!=" in clause:
            key, value = clause.split("!=", 1)
            requirements.append(Requirement(key.strip(), "!=", (value.strip(),)))
        elif "=" in clause:
            key, value = clause.split("==", 1) if "==" in clause else clause.split("=", 1)
            requirements.append(Requirement(key.strip(), "=", (value.strip(),)))
        else:
            raise errors.bad_request(f"invalid selector: {text!r}; can't understand {clause!r}")
    return requirements


def fields_match(requirements: list[Requirement], obj: dict[str, Any]) -> bool:
    for requirement in requirements:
        value = _field_value(obj, requirement.key)
        fields = {requirement.key: value} if value is not None else {}
        # An absent field compares as the empty string, like the real server.
        if value is None:
            fields = {requirement.key: ""}
        if not requirement.matches(fields):
            return False
    return True


def matcher(label_selector: str | None, field_selector: str | None) -> Matcher:
    """One predicate for both query selectors."""
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector)
    return lambda obj: labels_match(labels, obj) and fields_match(fields, obj)
