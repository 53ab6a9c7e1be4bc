"""Conversion between a stored object and the API version it is served as (pure).

Only one pair differs in shape: events.k8s.io/v1 Events share storage with core/v1 Events (as on a
real cluster, an Event posted through either API is listed by both), with renamed fields:
note/message, regarding/involvedObject, reportingController/reportingComponent,
deprecatedSource/source, deprecatedFirstTimestamp/firstTimestamp, deprecatedLastTimestamp/
lastTimestamp, deprecatedCount/count. Objects are stored in the core/v1 shape.
"""
from __future__ import annotations

from typing import Any

from fakekube.resources import ResourceType

Obj = dict[str, Any]

# events.k8s.io/v1 field -> core/v1 field
EVENT_FIELDS = {
    "note": "message", "regarding": "involvedObject", "reportingController": "reportingComponent",
    "deprecatedSource": "source", "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count",
}


def _is_events_v1(rtype: ResourceType) -> bool:
    return rtype.group == "events.k8s.io" and rtype.plural == "events"


def _rename(obj: Obj, mapping: dict[str, str]) -> Obj:
    return {mapping.get(key, key): value for key, value in obj.items()}


def to_storage(rtype: ResourceType, obj: Obj) -> Obj:
    """The stored shape of an object written through `rtype`."""
    return _rename(obj, EVENT_FIELDS) if _is_events_v1(rtype) else obj


def from_storage(rtype: ResourceType, obj: Obj) -> Obj:
    """The shape `rtype` serves for a stored object (apiVersion/kind are set by the caller)."""
    if not _is_events_v1(rtype):
        return obj
    return _rename(obj, {core: new for new, core in EVENT_FIELDS.items()})
