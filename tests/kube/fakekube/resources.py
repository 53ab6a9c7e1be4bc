"""Resource types served by the fake Kubernetes API server, and the discovery documents.

`Registry` knows every (group, version, plural) the server serves: the built-ins listed in
`BUILTINS`, plus whatever `CustomResourceDefinition` objects declare (registered by the store when
a CRD is created, updated or deleted). It renders `/api`, `/apis`, `/api/v1` and
`/apis/<group>/<version>` exactly as kopf's resource scanner and the official client read them.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

VERBS_ALL = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One servable resource: where it lives, what it is called, what it supports."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    custom: bool = False  # a CRD-defined resource: no strategic merge, PUT needs resourceVersion
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)  # openAPIV3Schema

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects are stored per group and plural, shared by all served versions (and events.k8s.io
        Events share core Events' storage, see convert.py)."""
        if self.group == "events.k8s.io" and self.plural == "events":
            return ("", "events")
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _builtin(group, version, kind, plural, namespaced, subresources=(), short_names=(), categories=()):
    return ResourceType(group, version, kind, plural, namespaced, tuple(subresources), tuple(short_names),
                        tuple(categories))


BUILTINS: tuple[ResourceType, ...] = (
    _builtin("", "v1", "Namespace", "namespaces", False, ("status", "finalize"), ("ns",)),
    _builtin("", "v1", "Node", "nodes", False, ("status",), ("no",)),
    _builtin("", "v1", "Pod", "pods", True, ("status", "log", "eviction"), ("po",), ("all",)),
    _builtin("", "v1", "ConfigMap", "configmaps", True, (), ("cm",)),
    _builtin("", "v1", "Secret", "secrets", True),
    _builtin("", "v1", "Service", "services", True, ("status",), ("svc",), ("all",)),
    _builtin("", "v1", "ServiceAccount", "serviceaccounts", True, (), ("sa",)),
    _builtin("", "v1", "Event", "events", True, (), ("ev",)),
    _builtin("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("status",), ("pvc",)),
    _builtin("events.k8s.io", "v1", "Event", "events", True, (), ("ev",)),
    _builtin("batch", "v1", "Job", "jobs", True, ("status",), (), ("all",)),
    _builtin("coordination.k8s.io", "v1", "Lease", "leases", True),
    _builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _builtin("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
             ("status",), ("crd", "crds")),
)


def crd_resource_types(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition makes servable (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    types = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys()))
        types.append(ResourceType(
            group=spec["group"], version=version["name"], kind=names["kind"], plural=names["plural"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced", subresources=subresources,
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            custom=True, schema=(version.get("schema") or {}).get("openAPIV3Schema")))
    return types


def crd_storage_version(crd: dict[str, Any]) -> str | None:
    for version in (crd.get("spec") or {}).get("versions") or []:
        if version.get("storage"):
            return version["name"]
    return None


@dataclass
class Registry:
    """Thread-safe table of served resource types (built-ins plus CRD-defined ones)."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _crd_types: dict[str, list[ResourceType]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for resource_type in BUILTINS:
            self._types[(resource_type.group, resource_type.version, resource_type.plural)] = resource_type

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def by_storage_key(self, storage_key: tuple[str, str]) -> ResourceType | None:
        """The type that owns this storage (the one whose own group matches, for shared storage)."""
        with self._lock:
            matching = [t for t in self._types.values() if t.storage_key == storage_key]
        return next((t for t in matching if t.group == storage_key[0]), matching[0] if matching else None)

    def set_crd(self, crd_name: str, crd: dict[str, Any] | None) -> None:
        """Register (or with None, unregister) the types of one CRD."""
        with self._lock:
            for old in self._crd_types.pop(crd_name, []):
                self._types.pop((old.group, old.version, old.plural), None)
            if crd is not None:
                new_types = crd_resource_types(crd)
                self._crd_types[crd_name] = new_types
                for resource_type in new_types:
                    self._types[(resource_type.group, resource_type.version, resource_type.plural)] = resource_type

    def all_types(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    # --- discovery documents -------------------------------------------------------------------

    def api_versions(self, server_address: str) -> dict[str, Any]:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}

    def api_group_list(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for resource_type in self.all_types():
            if resource_type.group:
                versions = groups.setdefault(resource_type.group, [])
                if resource_type.version not in versions:
                    versions.append(resource_type.version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": group,
             "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
             "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]}}
            for group, versions in sorted(groups.items())]}

    def api_group(self, group: str) -> dict[str, Any] | None:
        for entry in self.api_group_list()["groups"]:
            if entry["name"] == group:
                return {"kind": "APIGroup", "apiVersion": "v1", **entry}
        return None

    def api_resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        types = [t for t in self.all_types() if t.group == group and t.version == version]
        if not types:
            return None
        resources = []
        for resource_type in sorted(types, key=lambda t: t.plural):
            entry: dict[str, Any] = {
                "name": resource_type.plural, "singularName": resource_type.singular,
                "namespaced": resource_type.namespaced, "kind": resource_type.kind, "verbs": list(VERBS_ALL)}
            if resource_type.short_names:
                entry["shortNames"] = list(resource_type.short_names)
            if resource_type.categories:
                entry["categories"] = list(resource_type.categories)
            resources.append(entry)
            for sub in resource_type.subresources:
                kind = {"log": "Pod", "eviction": "Eviction", "scale": "Scale"}.get(sub, resource_type.kind)
                verbs = {"log": ["get"], "eviction": ["create"], "finalize": ["update"]}.get(
                    sub, ["get", "patch", "update"])
                resources.append({"name": f"{resource_type.plural}/{sub}", "singularName": "",
                                  "namespaced": resource_type.namespaced, "kind": kind, "verbs": verbs})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}
