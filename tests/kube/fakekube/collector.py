"""Garbage collection and namespace termination for the fake store (a mixin of `Store`).

What kube-controller-manager's garbage collector and namespace controller do, run synchronously
inside the write that triggers them: dependents (by ownerReferences uid) of a removed owner are
deleted in the background when no owner is left (or lose the dangling reference when some are),
orphaned on Orphan propagation, deleted first on Foreground; a terminating namespace deletes its
contents and goes away once empty. Runs under the store lock.
"""
from __future__ import annotations

import copy
from typing import Any

from fakekube.resources import ResourceType

Obj = dict[str, Any]


class GarbageCollector:
    """Mixin: needs the Store's _objects, _by_uid, registry, _bucket, _key, _commit, _delete_object."""

    def _dependents(self, owner_uid: str) -> list[tuple[ResourceType, Obj]]:
        found = []
        for storage_key, bucket in self._objects.items():
            rtype = self.registry.by_storage_key(storage_key)
            for obj in list(bucket.values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if rtype is not None and any(ref.get("uid") == owner_uid for ref in refs):
                    found.append((rtype, obj))
        return found

    def _orphan_dependents(self, owner_uid: str) -> None:
        for rtype, obj in self._dependents(owner_uid):
            updated = copy.deepcopy(obj)
            refs = [ref for ref in updated["metadata"]["ownerReferences"] if ref.get("uid") != owner_uid]
            if refs:
                updated["metadata"]["ownerReferences"] = refs
            else:
                updated["metadata"].pop("ownerReferences")
            self._commit("MODIFIED", rtype, updated, obj)

    def _delete_dependents(self, owner_uid: str) -> None:
        for rtype, obj in self._dependents(owner_uid):
            key = self._key(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            live = self._bucket(rtype).get(key)
            if live is None or live["metadata"]["uid"] != obj["metadata"]["uid"]:
                continue
            self._collect_if_orphaned(rtype, live, gone_uid=owner_uid)

    def _collect_if_orphaned(self, rtype: ResourceType, obj: Obj, gone_uid: str | None = None) -> None:
        """What the garbage collector does with an object whose owners may be gone."""
        refs = obj["metadata"].get("ownerReferences") or []
        if not refs:
            return
        alive = [ref for ref in refs if ref.get("uid") != gone_uid and ref.get("uid") in self._by_uid]
        if not alive:
            self._delete_object(rtype, obj, "Background", None)
        elif len(alive) < len(refs) and gone_uid is not None:
            updated = copy.deepcopy(obj)
            updated["metadata"]["ownerReferences"] = alive
            self._commit("MODIFIED", rtype, updated, obj)

    def _namespace_has_content(self, namespace: str) -> bool:
        for storage_key, bucket in self._objects.items():
            if storage_key == ("", "namespaces"):
                continue
            if any(key[0] == namespace for key in bucket):
                return True
        return False

    def _terminate_namespace(self, namespace: str) -> None:
        for storage_key, bucket in list(self._objects.items()):
            rtype = self.registry.by_storage_key(storage_key)
            if rtype is None or not rtype.namespaced:
                continue
            for key, obj in list(bucket.items()):
                live = bucket.get(key)
                if key[0] == namespace and live is not None and not live["metadata"].get("deletionTimestamp"):
                    self._delete_object(rtype, live, "Background", None)
