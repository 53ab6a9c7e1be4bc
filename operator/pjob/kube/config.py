"""Operator configuration: where the datastore is, and the defaults every
worker pod gets (image, resources, security contexts, volumes; the GPU
resource name, node selector and tolerations for steps asking for GPUs; the
pip-from-conda-file wrapper, off by default: see ``pjob.kube.pod_options``).

Read once at operator start (``OperatorConfig.load``) from the JSON file the
Helm chart mounts (``$PJOB_CONFIG_FILE``, shape in ``helm/pjob/templates/
_helpers.tpl`` "pjob.config"), with ``$PJOB_DATASTORE_ROOT`` overriding the
datastore mount path. Without a file (tests, ``pjob operator render``) the
defaults below apply: they equal the chart's defaults. Never read at import
time; the builders take the config as an argument.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

DEFAULT_ROOT = "/mnt/pjob"
DEFAULT_IMAGE = "ghcr.io/pjob-dev/pjob:0.1.0"
DEFAULT_CLAIM = "pjob-datastore"
DEFAULT_GPU = {"resourceName": "nvidia.com/gpu", "nodeSelector": {}, "tolerations": []}
DEFAULT_PIP_FROM_CONDA_FILE: dict[str, Any] = {
    "enabled": False,
    "command": "pjob-pip-env",
    "cachePath": "/var/cache/pjob-pip",
}
# chart keys holding a mapping whose missing sub-keys keep their defaults
MERGED_WORKER_KEYS = ("gpu", "pipFromCondaFile")

LOCKED_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "fsGroupChangePolicy": "OnRootMismatch",
    "seccompProfile": {"type": "RuntimeDefault"},
}
LOCKED_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _default_worker(root: str) -> dict[str, Any]:
    return {
        "image": DEFAULT_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "imagePullSecrets": [],
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "nodeSelector": {},
        "tolerations": [],
        "affinity": {},
        "gpu": copy.deepcopy(DEFAULT_GPU),  # used by pods of steps asking for GPUs (pjob.dev/gpus-per-instance)
        "podSecurityContext": copy.deepcopy(LOCKED_POD_SECURITY),
        "securityContext": copy.deepcopy(LOCKED_CONTAINER_SECURITY),
        "terminationGracePeriodSeconds": 60,
        "podLabels": {},
        "podAnnotations": {},
        "priorityClassName": "",
        "workDir": "/work",
        "env": [
            {"name": "HOME", "value": "/work"},
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "envFrom": [],
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": "10Gi"}},
            {"name": "work", "emptyDir": {"sizeLimit": "10Gi"}},
            {"name": "datastore", "persistentVolumeClaim": {"claimName": DEFAULT_CLAIM}},
        ],
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "work", "mountPath": "/work"},
            {"name": "datastore", "mountPath": root},
        ],
        # off: pods of a step with environment.conda_file run `pjob-pip-env --conda-file F -- pjob agent ...`
        "pipFromCondaFile": copy.deepcopy(DEFAULT_PIP_FROM_CONDA_FILE),
    }


@dataclasses.dataclass
class OperatorConfig:
    datastore_root: str = DEFAULT_ROOT  # where the datastore is mounted (operator and pods)
    default_datastore: str = "default"  # ${{default_datastore}}
    datastore_urls: dict[str, str] = dataclasses.field(default_factory=dict)  # object-store datastores
    worker: dict[str, Any] = dataclasses.field(default_factory=lambda: _default_worker(DEFAULT_ROOT))
    lease_seconds: float = 30.0  # agent Lease duration; an agent dead this long loses its mini-batches
    observe_seconds: float = 5.0  # how often the operator reads progress of a running job
    stop_grace_seconds: float = 60.0  # how long a verdict waits for workers to stop before finalising
    # the operator's own namespace (where the chart's datastore claim is); "" = unknown (run outside the chart)
    operator_namespace: str = ""

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> OperatorConfig:
        env = os.environ if environ is None else environ
        path = env.get("PJOB_CONFIG_FILE")
        raw: dict[str, Any] = {}
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                raw = json.load(fh)
        return cls.from_dict(raw, env)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], env: Mapping[str, str] | None = None) -> OperatorConfig:
        env = {} if env is None else env
        stores = raw.get("datastores") or {}
        items = stores.get("items") or {}
        default = stores.get("default") or "default"
        mount = (items.get(default) or {}).get("mountPath") or DEFAULT_ROOT
        root = env.get("PJOB_DATASTORE_ROOT") or mount
        worker = _default_worker(root)
        for key, value in (raw.get("worker") or {}).items():
            if key in MERGED_WORKER_KEYS and isinstance(value, dict):
                worker[key] = {**worker[key], **{k: v for k, v in value.items() if v is not None}}
            elif key in worker and value is not None:
                worker[key] = value
        if env.get("PJOB_WORKER_IMAGE"):
            worker["image"] = env["PJOB_WORKER_IMAGE"]
        urls = {
            name: item["url"] for name, item in items.items() if item.get("type") == "objectStore" and item.get("url")
        }
        return cls(
            datastore_root=root,
            default_datastore=default,
            datastore_urls=urls,
            worker=worker,
            lease_seconds=float(env.get("PJOB_LEASE_SECONDS") or 30.0),
            observe_seconds=float(env.get("PJOB_OBSERVE_SECONDS") or 5.0),
            stop_grace_seconds=float(env.get("PJOB_STOP_GRACE_SECONDS") or 60.0),
            operator_namespace=env.get("PJOB_OPERATOR_NAMESPACE") or (raw.get("operator") or {}).get("namespace") or "",
        )

    def datastores(self) -> Datastores:
        return Datastores(self.datastore_root, self.datastore_urls)


class Datastores(dict[str, str]):
    """Datastore name -> location: object stores by URL, every other name
    ``<root>/datastores/<name>`` on the shared volume."""

    def __init__(self, root: str, urls: dict[str, str]):
        super().__init__(urls)
        self.root = root

    def __contains__(self, name: object) -> bool:
        return True

    def __bool__(self) -> bool:  # never "no datastores" (``datastores or {}`` would drop the mapping)
        return True

    def __missing__(self, name: str) -> str:
        return os.path.join(self.root, "datastores", name)
