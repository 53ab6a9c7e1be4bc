"""In-memory object store of the fake Kubernetes API server: the etcd + registry + garbage collector.

Holds every object by (group, plural) -> (namespace, name). Each write bumps one global
resourceVersion counter and appends a `Change` to a bounded history that watches replay from a
resourceVersion (older than the history -> 410 Gone, like a compacted etcd). Implements the API
semantics our clients depend on: optimistic concurrency (409 on a stale resourceVersion), no-op
writes that do not bump the resourceVersion, status-subresource isolation, generation bumps,
generateName, finalizers and deletionTimestamp, pod graceful deletion, ownerReference garbage
collection (background / foreground / orphan), namespace termination, CRD registration.

Stored dicts are never mutated in place (every write stores a new dict), so `Change` snapshots
can be shared with watchers; everything handed out is a deep copy. The HTTP layer (`server.py`)
and the in-process controllers (`jobcontroller.py`, `kubelet.py`) both call this.
"""
from __future__ import annotations

import bisect
import copy
import datetime
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from fakekube import collector, convert, defaults, errors, schema, updates
from fakekube.resources import Registry, ResourceType

Obj = dict[str, Any]
POD_GRACEFUL = "pod-graceful"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=length))


@dataclass(frozen=True)
class Change:
    """One committed write, as watches see it: `obj` is the new (or, for DELETED, final) state."""

    rv: int
    type: str
    storage_key: tuple[str, str]
    namespace: str | None
    obj: Obj
    old: Obj | None


class Store(collector.GarbageCollector):
    """Thread-safe object store with the API server's write semantics (see module docstring)."""

    def __init__(self, registry: Registry | None = None, history_limit: int = 20_000):
        self.registry = registry or Registry()
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.history_limit = history_limit
        self.closed = False
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._by_uid: dict[str, tuple[tuple[str, str], str, str]] = {}
        self._rv = 0
        self._history: list[Change] = []
        self._history_rvs: list[int] = []
        self._compacted_rv = 0
        self._listeners: list[Callable[[Change], None]] = []
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(self._type("", "v1", "namespaces"), None, {"metadata": {"name": name}})

    # --- helpers -------------------------------------------------------------------------------

    def _type(self, group: str, version: str, plural: str) -> ResourceType:
        rtype = self.registry.lookup(group, version, plural)
        if rtype is None:
            raise errors.path_not_found(f"{group}/{version}/{plural}")
        return rtype

    def resource_type(self, group: str, version: str, plural: str) -> ResourceType:
        """The served type, or a 404 ApiError."""
        return self._type(group, version, plural)

    @staticmethod
    def _view(obj: Obj, rtype: ResourceType) -> Obj:
        out = convert.from_storage(rtype, copy.deepcopy(obj))
        out["apiVersion"] = rtype.api_version
        out["kind"] = rtype.kind
        return out

    def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(rtype.storage_key, {})

    @staticmethod
    def _key(rtype: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
        return (namespace or "" if rtype.namespaced else "", name)

    def _current(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._bucket(rtype).get(self._key(rtype, namespace, name))
        if obj is None:
            raise errors.not_found(rtype.group, rtype.plural, name)
        return obj

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        """Call `listener(change)` (under the store lock; keep it tiny) after every write."""
        with self.lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Change], None]) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def _commit(self, change_type: str, rtype: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        self._rv += 1
        if change_type != "DELETED":
            obj["metadata"]["resourceVersion"] = str(self._rv)
        else:
            obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}
        meta = obj["metadata"]
        key = self._key(rtype, meta.get("namespace"), meta["name"])
        if change_type == "DELETED":
            self._bucket(rtype).pop(key, None)
            self._by_uid.pop(meta["uid"], None)
        else:
            self._bucket(rtype)[key] = obj
            self._by_uid[meta["uid"]] = (rtype.storage_key, key[0], key[1])
        change = Change(self._rv, change_type, rtype.storage_key, meta.get("namespace"), obj, old)
        self._history.append(change)
        self._history_rvs.append(change.rv)
        if len(self._history) > self.history_limit:
            drop = len(self._history) - self.history_limit // 2
            self._compacted_rv = self._history_rvs[drop - 1]
            del self._history[:drop]
            del self._history_rvs[:drop]
        for listener in list(self._listeners):
            listener(change)
        self.changed.notify_all()
        return obj

    # --- reads ---------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        with self.lock:
            return self._view(self._current(rtype, namespace, name), rtype)

    def list(self, rtype: ResourceType, namespace: str | None,
             match: Callable[[Obj], bool] = lambda obj: True) -> tuple[list[Obj], int]:
        """Matching objects (sorted by namespace, name) and the current resourceVersion."""
        with self.lock:
            items = [self._view(obj, rtype) for key, obj in sorted(self._bucket(rtype).items())
                     if (namespace is None or not rtype.namespaced or key[0] == namespace) and match(obj)]
            return items, self._rv

    def changes_after(self, rv: int) -> list[Change]:
        """Committed changes with resourceVersion > rv; 410 Gone if the history was compacted past rv."""
        with self.lock:
            if rv < self._compacted_rv:
                raise errors.gone(f"too old resource version: {rv} ({self._compacted_rv})")
            return self._history[bisect.bisect_right(self._history_rvs, rv):]

    def compact(self) -> None:
        """Test hook: forget the whole watch history, so every resumed watch gets 410 Gone."""
        with self.lock:
            self._compacted_rv = self._rv
            self._history.clear()
            self._history_rvs.clear()

    def mark_disruption(self, namespace: str, name: str, reason: str, message: str) -> None:
        """Add the pod condition DisruptionTarget=True, as preemption and the Eviction API do."""
        pod_type = self._type("", "v1", "pods")

        def with_condition(pod: Obj) -> Obj:
            status = dict(pod.get("status") or {})
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
            conditions.append({"type": "DisruptionTarget", "status": "True", "reason": reason, "message": message,
                               "lastTransitionTime": now_rfc3339()})
            return {**pod, "status": {**status, "conditions": conditions}}

        self.update(pod_type, namespace, name, with_condition, subresource="status")

    def owner_exists(self, uid: str) -> bool:
        with self.lock:
            return uid in self._by_uid

    # --- create --------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, namespace: str | None, body: Obj, dry_run: bool = False) -> Obj:
        with self.lock:
            obj = copy.deepcopy(body)
            if obj.get("kind") not in (None, rtype.kind) or obj.get("apiVersion") not in (None, rtype.api_version):
                raise errors.bad_request(
                    f"the API version in the data ({obj.get('apiVersion')}) and kind ({obj.get('kind')}) do not "
                    f"match the expected {rtype.api_version} {rtype.kind}")
            obj = convert.to_storage(rtype, obj)
            meta = obj.setdefault("metadata", {})
            if rtype.namespaced:
                if meta.get("namespace") not in (None, "", namespace):
                    raise errors.bad_request("the namespace of the provided object does not match the "
                                             "namespace sent on the request")
                self._check_namespace_open(namespace)
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise errors.invalid(rtype.group, rtype.plural, rtype.kind, "", "metadata.name",
                                         "Required value: name or generateName is required")
                meta["name"] = meta["generateName"] + random_suffix()
            if self._key(rtype, namespace, meta["name"]) in self._bucket(rtype):
                raise errors.already_exists(rtype.group, rtype.plural, meta["name"])
            for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
                meta.pop(field, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            if rtype.has_status:
                obj.pop("status", None)
            defaults.on_create(obj, rtype, meta["uid"])
            if rtype.custom and rtype.schema:
                obj = schema.prune(obj, rtype.schema, root=True)
                self._check_schema(rtype, obj)
            owner = self.registry.by_storage_key(rtype.storage_key) or rtype
            obj["apiVersion"], obj["kind"] = owner.api_version, owner.kind
            if dry_run:
                return self._view(obj, rtype)
            if rtype.kind == "CustomResourceDefinition":
                self.registry.set_crd(meta["name"], obj)
            self._commit("ADDED", rtype, obj, None)
            if rtype.kind == "Namespace" and not rtype.group:
                self._populate_namespace(meta["name"])
            self._collect_if_orphaned(rtype, obj)
            return self._view(obj, rtype)

    def _check_namespace_open(self, namespace: str | None) -> None:
        if not namespace:
            raise errors.bad_request("a namespace is required for a namespaced resource")
        ns = self._bucket(self._type("", "v1", "namespaces")).get(("", namespace))
        if ns is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(f"unable to create new content in namespace {namespace} "
                                   "because it is being terminated")

    def _populate_namespace(self, namespace: str) -> None:
        self.create(self._type("", "v1", "serviceaccounts"), namespace, {"metadata": {"name": "default"}})
        self.create(self._type("", "v1", "configmaps"), namespace, {
            "metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "fakekube: no TLS\n"}})

    @staticmethod
    def _check_schema(rtype: ResourceType, obj: Obj) -> None:
        problems = schema.validate(obj, rtype.schema)
        if problems:
            name = obj["metadata"].get("name", "")
            raise errors.ApiError(422, "Invalid", f'{rtype.kind}.{rtype.group} "{name}" is invalid: [{", ".join(problems)}]',
                                  {"name": name, "group": rtype.group, "kind": rtype.kind,
                                   "causes": [{"reason": "FieldValueInvalid", "message": p, "field": p.split(":")[0]}
                                              for p in problems]})

    # --- update (replace, patch, status) ---------------------------------------------------------

    def update(self, rtype: ResourceType, namespace: str | None, name: str, compute: Callable[[Obj], Obj],
               subresource: str | None = None, require_resource_version: bool = False,
               dry_run: bool = False) -> Obj:
        """Apply `compute(copy of current) -> candidate` as a PUT/PATCH of the object or its status."""
        with self.lock:
            current = self._current(rtype, namespace, name)
            candidate = compute(self._view(current, rtype))
            if not isinstance(candidate, dict):
                raise errors.bad_request("the body of the request must be an object")
            candidate = convert.to_storage(rtype, candidate)
            new = updates.merged_update(rtype, current, candidate, subresource, require_resource_version)
            if rtype.custom and rtype.schema:
                new = schema.prune(new, rtype.schema, root=True)
                self._check_schema(rtype, new)
            if updates.same(current, new) or dry_run:
                return self._view(current if not dry_run else new, rtype)
            if rtype.kind == "CustomResourceDefinition":
                self.registry.set_crd(name, new)
            self._commit("MODIFIED", rtype, new, current)
            self._finalize_if_done(rtype, new)
            return self._view(new, rtype)

    # --- delete ----------------------------------------------------------------------------------

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, propagation: str | None = None,
               grace_seconds: int | None = None, preconditions: dict[str, Any] | None = None,
               dry_run: bool = False) -> tuple[Obj, bool]:
        """Delete (or start deleting) one object; return (its last state, still pending?)."""
        with self.lock:
            current = self._current(rtype, namespace, name)
            preconditions = preconditions or {}
            meta = current["metadata"]
            if preconditions.get("uid") not in (None, meta["uid"]):
                raise errors.conflict(rtype.group, rtype.plural, name,
                                      f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                                      f"UID in object meta: {meta['uid']}")
            if preconditions.get("resourceVersion") not in (None, meta["resourceVersion"]):
                raise errors.conflict(rtype.group, rtype.plural, name)
            if dry_run:
                return self._view(current, rtype), False
            if propagation is None and rtype.group == "batch" and rtype.kind == "Job":
                propagation = "Orphan"  # the real batch/v1 default for direct API deletes
            return self._delete_object(rtype, current, propagation or "Background", grace_seconds)

    def _delete_object(self, rtype: ResourceType, current: Obj, propagation: str,
                       grace_seconds: int | None) -> tuple[Obj, bool]:
        meta = current["metadata"]
        is_pod = rtype.kind == "Pod" and not rtype.group
        if meta.get("deletionTimestamp"):
            if is_pod and grace_seconds == 0 and meta.get("deletionGracePeriodSeconds") != 0:
                updated = copy.deepcopy(current)
                updated["metadata"]["deletionGracePeriodSeconds"] = 0
                self._commit("MODIFIED", rtype, updated, current)
                return self._view(updated, rtype), not self._finalize_if_done(rtype, updated)
            return self._view(current, rtype), True
        if propagation == "Orphan":
            self._orphan_dependents(meta["uid"])
        elif propagation == "Foreground":
            self._delete_dependents(meta["uid"])
        updated = copy.deepcopy(current)
        umeta = updated["metadata"]
        if rtype.kind == "Namespace" and not rtype.group:
            umeta["deletionTimestamp"] = now_rfc3339()
            umeta["deletionGracePeriodSeconds"] = 0
            updated["status"] = {"phase": "Terminating"}
            self._commit("MODIFIED", rtype, updated, current)
            self._terminate_namespace(meta["name"])
            return self._view(updated, rtype), not self._finalize_if_done(rtype, updated)
        phase = (current.get("status") or {}).get("phase")
        graceful_pod = is_pod and (current.get("spec") or {}).get("nodeName") and phase not in ("Succeeded", "Failed")
        if graceful_pod and grace_seconds != 0:
            grace = grace_seconds if grace_seconds is not None else \
                current["spec"].get("terminationGracePeriodSeconds", 30)
            umeta["deletionTimestamp"] = now_rfc3339()
            umeta["deletionGracePeriodSeconds"] = int(grace)
            self._commit("MODIFIED", rtype, updated, current)
            return self._view(updated, rtype), True
        if meta.get("finalizers"):
            umeta["deletionTimestamp"] = now_rfc3339()
            umeta["deletionGracePeriodSeconds"] = 0
            self._commit("MODIFIED", rtype, updated, current)
            return self._view(updated, rtype), True
        return self._view(self._remove(rtype, current), rtype), False

    def _finalize_if_done(self, rtype: ResourceType, obj: Obj) -> bool:
        """Remove an object whose deletion is no longer held up; True if it was removed."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if rtype.kind == "Pod" and not rtype.group and meta.get("deletionGracePeriodSeconds") not in (0, None):
            return False  # the kubelet has not confirmed the termination yet
        if rtype.kind == "Namespace" and not rtype.group and self._namespace_has_content(meta["name"]):
            return False
        self._remove(rtype, obj)
        return True

    def _remove(self, rtype: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        final = self._commit("DELETED", rtype, obj, obj)
        if rtype.kind == "CustomResourceDefinition":
            self._drop_custom_resources(obj)
        self._delete_dependents(meta["uid"])
        namespace = meta.get("namespace")
        if namespace:
            ns_type = self._type("", "v1", "namespaces")
            ns = self._bucket(ns_type).get(("", namespace))
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self._finalize_if_done(ns_type, ns)
        return final

    def _drop_custom_resources(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        storage_key = (spec.get("group"), (spec.get("names") or {}).get("plural"))
        rtypes = [t for t in self.registry.all_types() if t.storage_key == storage_key]
        self.registry.set_crd(crd["metadata"]["name"], None)
        for obj in list(self._objects.get(storage_key, {}).values()):
            if rtypes:
                self._commit("DELETED", rtypes[0], obj, obj)
