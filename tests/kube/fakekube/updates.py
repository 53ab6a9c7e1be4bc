"""What an update (PUT, PATCH, status write) of an existing object stores (pure functions).

Enforces optimistic concurrency (409 on a stale metadata.resourceVersion), custom resources'
required resourceVersion on PUT (422), URL/body name agreement, status-subresource isolation,
system-owned metadata (uid, creationTimestamp, deletionTimestamp, generation), no new finalizers
while deleting, per-kind update validation (defaults.on_update) and generation bumps on spec
changes. Called by `Store.update`.
"""
from __future__ import annotations

import copy
from typing import Any

from fakekube import defaults, errors
from fakekube.resources import ResourceType

Obj = dict[str, Any]


def same(current: Obj, new: Obj) -> bool:
    """Equal apart from resourceVersion: such a write is a no-op and bumps nothing."""
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}
    return strip(current) == strip(new)

def merged_update(rtype: ResourceType, current: Obj, candidate: Obj, subresource: str | None,
                  require_resource_version: bool) -> Obj:
    """The object to store for a PUT/PATCH `candidate` of `current` (or of its status subresource)."""
    cmeta = candidate.get("metadata") or {}
    meta = current["metadata"]
    given_rv = cmeta.get("resourceVersion")
    if given_rv not in (None, "") and str(given_rv) != meta["resourceVersion"]:
        raise errors.conflict(rtype.group, rtype.plural, meta["name"])
    if require_resource_version and not given_rv:
        raise errors.invalid(rtype.group, rtype.plural, rtype.kind, meta["name"], "metadata.resourceVersion",
                             "Invalid value: 0x0: must be specified for an update")
    if cmeta.get("name") not in (None, meta["name"]):
        raise errors.bad_request(f"the name of the object ({cmeta.get('name')}) does not match the name on "
                                 f"the URL ({meta['name']})")
    if subresource == "status":
        new = copy.deepcopy(current)
        if candidate.get("status") is None:
            new.pop("status", None)
        else:
            new["status"] = copy.deepcopy(candidate["status"])
        return new
    new = copy.deepcopy(candidate)
    new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
    new_meta = new.setdefault("metadata", {})
    for field in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation", "resourceVersion"):
        if field in meta:
            new_meta[field] = meta[field]
        else:
            new_meta.pop(field, None)
    if rtype.has_status:
        if "status" in current:
            new["status"] = copy.deepcopy(current["status"])
        else:
            new.pop("status", None)
    if meta.get("deletionTimestamp"):
        added = set(new_meta.get("finalizers") or []) - set(meta.get("finalizers") or [])
        if added:
            raise errors.invalid(rtype.group, rtype.plural, rtype.kind, meta["name"], "metadata.finalizers",
                                 f"Forbidden: no new finalizers can be added if the object is being "
                                 f"deleted, found new finalizers {sorted(added)}")
    defaults.on_update(current, new, rtype)
    ignored = {"metadata", "status"} if rtype.has_status else {"metadata"}
    spec_of = lambda o: {k: v for k, v in o.items() if k not in ignored | {"apiVersion", "kind"}}
    if spec_of(current) != spec_of(new):
        new_meta["generation"] = int(meta.get("generation", 1)) + 1
    return new
