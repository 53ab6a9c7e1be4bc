"""Structural-schema pruning of custom resources (pure), as the real API server does it silently.

For a CRD version's `openAPIV3Schema`: object fields not declared under `properties` (or
`additionalProperties`) are dropped unless `x-kubernetes-preserve-unknown-fields: true`; an object
schema with neither drops all its fields; `null` is dropped where the field is not `nullable`;
array items are pruned with `items`. apiVersion/kind/metadata at the root (and in
`x-kubernetes-embedded-resource` objects) are kept. Catches an operator writing status fields the
CRD does not declare: on a real cluster they would vanish without an error.
"""
from __future__ import annotations

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
