"""How the stand-in kubelet turns a pod's container spec into a process environment (pure helpers).

- `resolve_env`: the container's `envFrom` and `env` (plain values with `$(VAR)` expansion,
  `valueFrom.fieldRef` for metadata.name/namespace/uid/labels['k']/annotations['k'], spec.nodeName,
  spec.serviceAccountName, status.podIP/hostIP; `configMapKeyRef`, `secretKeyRef`), like the kubelet.
- `expand`: `$(VAR)` references in command/args, with `$$` escaping.
- `materialize` / `volume_bytes`: ConfigMap and Secret volume files.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
# (kind 'configmaps'|'secrets', namespace, name) -> the object or None
Lookup = Callable[[str, str, str], Obj | None]

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class PodStartError(Exception):
    """The container cannot be created yet or at all; `retry` says whether to wait (ContainerCreating)."""

    def __init__(self, message: str, retry: bool = False):
        super().__init__(message)
        self.retry = retry


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: known variables are substituted, `$$` becomes `$`."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR.sub(substitute, text)


def field_value(pod: Obj, path: str) -> str:
    meta = pod.get("metadata") or {}
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if keyed:
        return str((meta.get(keyed.group(1)) or {}).get(keyed.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
    }
    if path not in simple:
        raise PodStartError(f"unsupported fieldRef fieldPath {path!r}")
    return str(simple[path] or "")


def resource_value(container: Obj, ref: Obj) -> str:
    """A resourceFieldRef as the kubelet resolves it: the limit (or the node's allocatable when unset),
    divided by the divisor and rounded up."""
    import math

    kind, _, name = ref["resource"].partition(".")
    quantity = ((container.get("resources") or {}).get(kind) or {}).get(name)
    value = parse_quantity(str(quantity)) if quantity is not None else (8.0 if name == "cpu" else 16 * 2**30)
    divisor = parse_quantity(str(ref.get("divisor", "1")))
    return str(max(1, math.ceil(value / divisor)) if name == "cpu" else math.ceil(value / divisor))


_SUFFIX = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity ("500m", "2", "1Gi") as a number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text.strip())
    if not match or (match.group(2) and match.group(2) not in _SUFFIX):
        raise PodStartError(f"unsupported quantity {text!r}")
    return float(match.group(1)) * _SUFFIX.get(match.group(2), 1)


def _data_of(obj: Obj, secret: bool) -> dict[str, str]:
    if secret:
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def _key_ref(ref: Obj, kind: str, namespace: str, lookup: Lookup) -> str | None:
    obj = lookup(kind, namespace, ref["name"])
    data = _data_of(obj, kind == "secrets") if obj is not None else None
    if data is None or ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise PodStartError(f"{kind} {ref['name']!r} or its key {ref['key']!r} not found", retry=True)
    return data[ref["key"]]


def resolve_env(pod: Obj, container: Obj, lookup: Lookup) -> dict[str, str]:
    """The environment the container's process gets from its spec (not including the host base env)."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            if key not in source:
                continue
            obj = lookup(kind, namespace, source[key]["name"])
            if obj is None:
                if source[key].get("optional"):
                    continue
                raise PodStartError(f"{kind} {source[key]['name']!r} not found", retry=True)
            env.update({prefix + k: v for k, v in _data_of(obj, kind == "secrets").items()})
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "")), env)
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in source:
            value = _key_ref(source["configMapKeyRef"], "configmaps", namespace, lookup)
            if value is not None:
                env[name] = value
        elif "secretKeyRef" in source:
            value = _key_ref(source["secretKeyRef"], "secrets", namespace, lookup)
            if value is not None:
                env[name] = value
        elif "resourceFieldRef" in source:
            env[name] = resource_value(container, source["resourceFieldRef"])
    return env


def materialize(folder: Path, data: dict[str, bytes], items: list[Obj] | None) -> None:
    """Write a configMap/secret volume: every key as a file, or only `items` (key -> path)."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [(item["key"], item.get("path", item["key"])) for item in items] if items else [(key, key) for key in data]
    for key, relative in chosen:
        if key not in data:
            raise PodStartError(f"volume key {key!r} not found", retry=True)
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[key])


def volume_bytes(obj: Obj, secret: bool) -> dict[str, bytes]:
    if secret:
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data
