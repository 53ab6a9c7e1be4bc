"""Defaulting and validation of built-in kinds, applied by the fake store on create and update.

Mirrors what the real API server does that our operator could trip over: name syntax,
Pod and Job defaults (Job selector, controller-uid/job-name labels, backoffLimit 6),
Job validation (restartPolicy Never/OnFailure, Indexed needs completions, immutable template),
Secret `stringData` folded into base64 `data`, Service clusterIP, CRD status conditions.
Pure functions over plain dicts; the store calls `on_create(obj, rtype)` / `on_update(old, new, rtype)`.
"""
from __future__ import annotations

import base64
import re
from typing import Any

from fakekube import errors
from fakekube.resources import ResourceType

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
JOB_INT32_MAX = 2147483647


def _invalid(rtype: ResourceType, obj: dict[str, Any], field: str, message: str) -> errors.ApiError:
    name = (obj.get("metadata") or {}).get("name") or ""
    return errors.invalid(rtype.group, rtype.plural, rtype.kind, name, field, message)


def validate_name(rtype: ResourceType, obj: dict[str, Any]) -> None:
    name = obj["metadata"]["name"]
    if rtype.kind == "Namespace":
        pattern, limit, what = DNS1123_LABEL, 63, "a lowercase RFC 1123 label"
    elif rtype.kind == "Service":
        pattern, limit, what = DNS1035_LABEL, 63, "a DNS-1035 label"
    else:
        pattern, limit, what = DNS1123_SUBDOMAIN, 253, "a lowercase RFC 1123 subdomain"
    if len(name) > limit or not pattern.match(name):
        raise _invalid(rtype, obj, "metadata.name", f'Invalid value: "{name}": must be {what} '
                       f"(at most {limit} characters, lowercase alphanumerics, '-' or '.')")
    for field in ("labels", "annotations"):
        for key, value in (obj["metadata"].get(field) or {}).items():
            if not isinstance(value, str):
                raise _invalid(rtype, obj, f"metadata.{field}", f"value of {key!r} must be a string")
    for key, value in (obj["metadata"].get("labels") or {}).items():
        if len(value) > 63:
            raise _invalid(rtype, obj, f"metadata.labels.{key}", "must be no more than 63 characters")


def on_create(obj: dict[str, Any], rtype: ResourceType, uid: str) -> None:
    """Default and validate a new object in place (after uid/name are assigned)."""
    validate_name(rtype, obj)
    handler = _CREATE.get((rtype.group, rtype.kind))
    if handler:
        handler(obj, rtype, uid)


def on_update(old: dict[str, Any], new: dict[str, Any], rtype: ResourceType) -> None:
    """Validate an update in place (immutable fields, derived fields)."""
    validate_name(rtype, new)
    if rtype.kind == "Secret" and rtype.group == "":
        _fold_string_data(new)
    if rtype.kind == "Job" and rtype.group == "batch":
        for field in ("template", "selector", "completionMode"):
            if (old.get("spec") or {}).get(field) != (new.get("spec") or {}).get(field):
                raise _invalid(rtype, new, f"spec.{field}", "field is immutable")


def _namespace(obj, rtype, uid):
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def _pod_spec_defaults(spec: dict[str, Any], restart_default: str) -> None:
    spec.setdefault("restartPolicy", restart_default)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    for container in spec.get("containers") or []:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("imagePullPolicy", "IfNotPresent")


def _pod(obj, rtype, uid):
    spec = obj.setdefault("spec", {})
    containers = spec.get("containers")
    if not containers:
        raise _invalid(rtype, obj, "spec.containers", "Required value")
    for i, container in enumerate(containers):
        if not container.get("name") or not container.get("image"):
            raise _invalid(rtype, obj, f"spec.containers[{i}]", "name and image are required")
    _pod_spec_defaults(spec, "Always")
    obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _job(obj, rtype, uid):
    spec = obj.setdefault("spec", {})
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    if not pod_spec.get("containers"):
        raise _invalid(rtype, obj, "spec.template.spec.containers", "Required value")
    restart = pod_spec.get("restartPolicy")
    if restart not in ("Never", "OnFailure"):
        raise _invalid(rtype, obj, "spec.template.spec.restartPolicy",
                       f'Unsupported value: "{restart}": supported values: "OnFailure", "Never"')
    spec.setdefault("completionMode", "NonIndexed")
    if spec["completionMode"] not in ("Indexed", "NonIndexed"):
        raise _invalid(rtype, obj, "spec.completionMode", f"Unsupported value: {spec['completionMode']!r}")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec["completionMode"] == "Indexed" and spec.get("completions") is None:
        raise _invalid(rtype, obj, "spec.completions", "Required value: when completion mode is Indexed")
    if spec.get("backoffLimitPerIndex") is not None:
        if spec["completionMode"] != "Indexed":
            raise _invalid(rtype, obj, "spec.backoffLimitPerIndex", "requires Indexed completion mode")
        if restart != "Never":
            raise _invalid(rtype, obj, "spec.template.spec.restartPolicy",
                           "must be Never when backoffLimitPerIndex is set")
        spec.setdefault("backoffLimit", JOB_INT32_MAX)
    if spec.get("podFailurePolicy") is not None and restart != "Never":
        raise _invalid(rtype, obj, "spec.template.spec.restartPolicy",
                       "only \"Never\" is supported when podFailurePolicy is specified")
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    spec.setdefault("manualSelector", False)
    job_labels = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                  "batch.kubernetes.io/job-name": obj["metadata"]["name"], "job-name": obj["metadata"]["name"]}
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template.setdefault("metadata", {}).setdefault("labels", {}).update(job_labels)
    if not obj["metadata"].get("labels"):
        obj["metadata"]["labels"] = dict((template.get("metadata") or {}).get("labels") or job_labels)
    _pod_spec_defaults(pod_spec, restart)
    obj["status"] = {}


def _fold_string_data(obj: dict[str, Any]) -> None:
    string_data = obj.pop("stringData", None) or {}
    data = obj.setdefault("data", {}) if string_data or "data" in obj else None
    for key, value in string_data.items():
        data[key] = base64.b64encode(value.encode()).decode()


def _secret(obj, rtype, uid):
    _fold_string_data(obj)
    obj.setdefault("type", "Opaque")


def _service(obj, rtype, uid):
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec.get("clusterIP") is None:
        number = int(uid.replace("-", "")[:4], 16)
        spec["clusterIP"] = f"10.96.{number // 256 % 256}.{number % 254 + 1}"
    obj["status"] = {"loadBalancer": {}}


def _crd(obj, rtype, uid):
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if obj["metadata"]["name"] != expected:
        raise _invalid(rtype, obj, "metadata.name", f'must be spec.names.plural+"."+spec.group ({expected})')
    accepted = dict(names)
    accepted.setdefault("singular", str(names.get("kind", "")).lower())
    accepted.setdefault("listKind", f"{names.get('kind')}List")
    obj["status"] = {
        "acceptedNames": accepted,
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"},
        ],
    }


_CREATE = {
    ("", "Namespace"): _namespace,
    ("", "Pod"): _pod,
    ("batch", "Job"): _job,
    ("", "Secret"): _secret,
    ("", "Service"): _service,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}
