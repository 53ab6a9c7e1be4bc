"""Structural-schema pruning and validation of custom resources (pure), as the real API server does.

For a CRD version's `openAPIV3Schema`: object fields not declared under `properties` (or
`additionalProperties`) are dropped unless `x-kubernetes-preserve-unknown-fields: true`; an object
schema with neither drops all its fields; `null` is dropped where the field is not `nullable`;
array items are pruned with `items`. apiVersion/kind/metadata at the root (and in
`x-kubernetes-embedded-resource` objects) are kept. Catches an operator writing status fields the
CRD does not declare: on a real cluster they would vanish without an error. `validate` then checks
types, required fields, enums, patterns and bounds; the store answers 422 Invalid on any problem.
"""
from __future__ import annotations

import re
from typing import Any

ROOT_KEYS = ("apiVersion", "kind", "metadata")


def prune(value: Any, schema: dict[str, Any] | None, root: bool = False) -> Any:
    if not isinstance(schema, dict):
        return value
    if isinstance(value, list):
        items = schema.get("items")
        return [prune(item, items) for item in value] if isinstance(items, dict) else value
    if not isinstance(value, dict):
        return value
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    keep_meta = root or bool(schema.get("x-kubernetes-embedded-resource"))
    result: dict[str, Any] = {}
    for key, item in value.items():
        if keep_meta and key in ROOT_KEYS:
            result[key] = item
            continue
        if properties is not None and key in properties:
            sub = properties[key]
        elif isinstance(additional, dict):
            sub = additional
        elif additional is True or preserve:
            result[key] = item
            continue
        else:
            continue
        if item is None and not (isinstance(sub, dict) and sub.get("nullable")):
            continue
        result[key] = prune(item, sub)
    return result


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def _type_name(value: Any) -> str:
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return "null"


def validate(value: Any, schema: dict[str, Any] | None, path: str = "") -> list[str]:
    """OpenAPI v3 checks the real server applies to custom resources (after pruning): type, nullable,
    required, enum, pattern, min/max (length, items, value), int-or-string. Returns error strings
    shaped like the real ones (`spec.task: Required value`); metadata is not checked here."""
    if not isinstance(schema, dict):
        return []
    where = path or "<root>"
    if value is None:
        if schema.get("nullable") or not path:
            return []
        return [f"{where}: Invalid value: \"null\": {where} in body must be of type {schema.get('type', 'object')}: "
                '"null"']
    expected = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not (_TYPES["integer"](value) or _TYPES["string"](value)):
            return [f"{where}: Invalid value: \"{_type_name(value)}\": {where} in body must be of type "
                    f"integer-or-string: \"{_type_name(value)}\""]
    elif expected in _TYPES and not _TYPES[expected](value):
        return [f"{where}: Invalid value: \"{_type_name(value)}\": {where} in body must be of type {expected}: "
                f"\"{_type_name(value)}\""]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(f'"{option}"' for option in schema["enum"])
        problems.append(f'{where}: Unsupported value: "{value}": supported values: {supported}')
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{where}: Invalid value: \"{value}\": {where} in body should match '{schema['pattern']}'")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            problems.append(f"{where}: Invalid value: \"{value}\": {where} in body has the wrong length")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: Invalid value: {value}: {where} in body should be greater than or equal to "
                            f"{schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: Invalid value: {value}: {where} in body should be less than or equal to "
                            f"{schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            problems.append(f"{where}: Invalid value: {len(value)}: {where} in body has the wrong number of items")
        for index, item in enumerate(value):
            problems += validate(item, schema.get("items"), f"{path}[{index}]")
    if isinstance(value, dict):
        prefix = f"{path}." if path else ""
        for key in schema.get("required") or []:
            if key not in value:
                problems.append(f"{prefix}{key}: Required value")
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if not path and key in ROOT_KEYS:
                continue
            sub = properties.get(key, additional if isinstance(additional, dict) else None)
            problems += validate(item, sub, f"{prefix}{key}")
    return problems
