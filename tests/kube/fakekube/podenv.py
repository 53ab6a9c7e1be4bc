"""How the fake kubelet turns a pod's first container into a local process (pure helpers).

- `resolve_env`: the container's `envFrom` and `env` (plain values with `$(VAR)` expansion,
  `valueFrom.fieldRef` for metadata.name/namespace/uid/labels['k']/annotations['k'], spec.nodeName,
  spec.serviceAccountName, status.podIP/hostIP; `configMapKeyRef`, `secretKeyRef`), like the kubelet.
- `expand`: `$(VAR)` references in command/args, with `$$` escaping.
- `rewrite_paths`: container mount paths replaced by the host folders that back them, in argv,
  env values and workingDir, since a local process cannot see `/mnt/...` mounts (host paths that
  exist, e.g. a test's /tmp/pytest-of-x/..., are left alone).
"""
from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any, Callable

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
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"), "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
        "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1", "status.podIPs": "127.0.0.1",
    }
    if path not in simple:
        raise PodStartError(f"unsupported fieldRef fieldPath {path!r}")
    return str(simple[path] or "")


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
            env[name] = "1"
    return env


def rewrite_paths(text: str, mounts: list[tuple[str, Path]]) -> str:
    """Replace each container mount path (as a whole path prefix) by its host folder, in ONE pass (a
    host folder that itself lies under another mount path, e.g. /tmp, is not rewritten again).

    A path that already exists on this machine under a mount path (say /tmp/pytest-of-x/... when /tmp
    is an emptyDir) is a host path a test put there, not a container path: it is left alone."""
    table = {mount.rstrip("/"): str(host) for mount, host in mounts if mount.rstrip("/")}
    if not table:
        return text
    ordered = sorted(table, key=len, reverse=True)  # the longest mount path wins
    pattern = re.compile(r"(?<![\w.\-/])(" + "|".join(re.escape(m) for m in ordered) + r")(?![\w.\-])")

    def substitute(match: re.Match) -> str:
        mount = match.group(1)
        component = _NEXT_COMPONENT.match(text, match.end())
        if component and os.path.exists(mount + "/" + component.group(1)):
            return mount
        return table[mount]

    return pattern.sub(substitute, text)


_NEXT_COMPONENT = re.compile(r"/([^/\s'\":;,=]+)")


def materialize(folder: Path, data: dict[str, bytes], items: list[Obj] | None) -> None:
    """Write a configMap/secret volume: every key as a file, or only `items` (key -> path)."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [(item["key"], item.get("path", item["key"])) for item in items] if items else \
        [(key, key) for key in data]
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
