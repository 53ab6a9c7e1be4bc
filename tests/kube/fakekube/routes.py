"""URL parsing for the fake Kubernetes API server (pure functions).

Turns a request path + method + query into a `Route`: which discovery document or which
resource (group, version, plural, namespace, name, subresource) and which RBAC-style verb
(get, list, watch, create, update, patch, delete, deletecollection) it is. The request log
records these, so tests can count API writes by verb and resource.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Route:
    """What a request addresses. `kind` is 'resource', 'discovery' or 'other'."""

    kind: str
    path: str
    verb: str
    group: str = ""
    version: str = ""
    plural: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS


def query_params(url: str) -> dict[str, str]:
    """Last value of each query parameter."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def _verb(method: str, name: str | None, watch: bool) -> str:
    if method == "GET":
        if name is None:
            return "watch" if watch else "list"
        return "get"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name is not None else "deletecollection"}.get(method, method.lower())


def parse(method: str, url: str) -> Route:
    path = urlsplit(url).path
    params = query_params(url)
    watch = params.get("watch", "").lower() in ("true", "1")
    parts = [part for part in path.split("/") if part]
    if not parts or parts[0] not in ("api", "apis"):
        return Route("other", path, "get" if method == "GET" else method.lower())
    if parts[0] == "api":
        if len(parts) < 2:
            return Route("discovery", path, "get")
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            return Route("discovery", path, "get", group=parts[1] if len(parts) == 2 else "")
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return Route("discovery", path, "get", group=group, version=version)
    namespace = None
    is_namespace_subresource = group == "" and len(rest) == 3 and rest[0] == "namespaces" \
        and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not is_namespace_subresource:
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) if len(rest) > 2 else None
    return Route("resource", path, _verb(method, name, watch), group, version, plural, namespace, name,
                 subresource)
