"""Patch semantics of the fake Kubernetes API server (pure functions on plain dicts).

- `merge_patch`: RFC 7386 JSON merge patch (`application/merge-patch+json`): dicts merge,
  `null` deletes, lists are replaced wholesale.
- `strategic_merge_patch`: the subset of strategic merge (`application/strategic-merge-patch+json`)
  our clients rely on: lists of objects that Kubernetes merges by a key (containers, env, volumes,
  ports, conditions, ownerReferences, ...) merge by that key, `finalizers` is a set union,
  `$patch: delete|replace` and `$deleteFromPrimitiveList/<field>` directives work; anything
  else behaves like a merge patch. The official client sends this for dict patches of
  built-in resources; custom resources reject it with 415, as the real server does.
- `json_patch`: RFC 6902 (`application/json-patch+json`) with add/remove/replace/move/copy/test;
  kopf uses `test` on /metadata/resourceVersion and expects 422 when it fails.
"""
from __future__ import annotations

import copy
from typing import Any

# Lists of objects merged by a key in strategic merge patch (field name -> merge key).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "volumeMounts": "mountPath", "env": "name", "ports": "containerPort",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid",
    "hostAliases": "ip", "tolerations": "key", "subsets": None,
}
# Lists of scalars merged as sets in strategic merge patch.
SET_LISTS = {"finalizers"}


class PatchError(Exception):
    """A patch that cannot be applied; `code` is the HTTP status to answer (400/422)."""

    def __init__(self, message: str, code: int = 422):
        super().__init__(message)
        self.code = code


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: return the patched copy of `target`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str | None = None) -> Any:
    """The strategic-merge subset described in the module docstring."""
    if isinstance(patch, list):
        return _strategic_list(target if isinstance(target, list) else [], patch, field)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [item for item in result.get(name) or [] if item not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _strategic_list(target: list, patch: list, field: str | None) -> list:
    if field in SET_LISTS:
        return list(target) + [item for item in patch if item not in target]
    merge_key = MERGE_KEYS.get(field or "")
    if not merge_key or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy([item for item in patch if not (isinstance(item, dict) and "$patch" in item)])
    result = copy.deepcopy(target)
    for item in patch:
        key_value = item.get(merge_key)
        position = next((i for i, existing in enumerate(result)
                         if isinstance(existing, dict) and existing.get(merge_key) == key_value), None)
        if item.get("$patch") == "delete":
            if position is not None:
                result.pop(position)
        elif position is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            result[position] = strategic_merge_patch(result[position], item, None)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"json patch path {path!r} must start with '/'", 400)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _container(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise PatchError(f"json patch: path segment {part!r} does not exist")
            doc = doc[part]
        elif isinstance(doc, list):
            doc = doc[_index(doc, part, allow_end=False)]
        else:
            raise PatchError(f"json patch: cannot descend into {part!r}")
    return doc


def _index(items: list, part: str, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(items)
    if not part.isdigit():
        raise PatchError(f"json patch: invalid list index {part!r}")
    index = int(part)
    if index > len(items) or (index == len(items) and not allow_end):
        raise PatchError(f"json patch: list index {index} out of range")
    return index


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    return _container(doc, parts) if parts else doc


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent = _container(doc, parts[:-1])
    if isinstance(parent, dict):
        parent[parts[-1]] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], allow_end=True), copy.deepcopy(value))
    else:
        raise PatchError(f"json patch: cannot add at {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise PatchError("json patch: cannot remove the whole document")
    parent = _container(doc, parts[:-1])
    if isinstance(parent, dict):
        if parts[-1] not in parent:
            raise PatchError(f"json patch: cannot remove missing {path!r}")
        del parent[parts[-1]]
    elif isinstance(parent, list):
        parent.pop(_index(parent, parts[-1], allow_end=False))
    else:
        raise PatchError(f"json patch: cannot remove at {path!r}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: apply the list of operations to a copy of `target`."""
    if not isinstance(operations, list):
        raise PatchError("json patch body must be a list of operations", 400)
    doc = copy.deepcopy(target)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        if op == "add":
            doc = _add(doc, path, operation.get("value"))
        elif op == "remove":
            doc = _remove(doc, path)
        elif op == "replace":
            _get(doc, path)  # must exist
            doc = _add(_remove(doc, path), path, operation.get("value")) if _pointer(path) \
                else copy.deepcopy(operation.get("value"))
        elif op in ("move", "copy"):
            value = copy.deepcopy(_get(doc, operation["from"]))
            if op == "move":
                doc = _remove(doc, operation["from"])
            doc = _add(doc, path, value)
        elif op == "test":
            try:
                current = _get(doc, path)
            except PatchError:
                current = None
            if current != operation.get("value"):
                raise PatchError(f"json patch test operation failed at {path!r}: "
                                 f"{current!r} != {operation.get('value')!r}")
        else:
            raise PatchError(f"json patch: unknown op {op!r}", 400)
    return doc
