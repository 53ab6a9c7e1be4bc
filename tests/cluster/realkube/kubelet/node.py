"""The stand-in kubelet's Node: registration, status and its Lease heartbeat (as a kubelet does)."""

from __future__ import annotations

import datetime
import platform
from typing import Any

from realkube.rest import ApiError, Client

Obj = dict[str, Any]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_status(capacity: Obj, port: int) -> Obj:
    now = _now()
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady"),
    ]
    return {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            {"type": t, "status": s, "reason": r, "message": r, "lastHeartbeatTime": now, "lastTransitionTime": now}
            for t, s, r in conditions
        ],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "localhost"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": platform.release(),
            "osImage": "pjob stand-in kubelet",
            "containerRuntimeVersion": "standin://1",
            "kubeletVersion": "v1.36.3",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def register(api: Client, name: str, capacity: Obj, port: int) -> None:
    """Create (or take over) the Node and write its status."""
    try:
        api.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                    },
                },
            }
        )
    except ApiError as error:
        if error.status != 409:
            raise
    api.patch("v1", "nodes", name, {"status": node_status(capacity, port)}, subresource="status", kind="strategic")


def heartbeat(api: Client, name: str) -> None:
    """Renew the node's Lease in kube-node-lease (created on first beat)."""
    lease = api.get("coordination.k8s.io/v1", "leases", name, "kube-node-lease")
    spec = {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": _micro_now()}
    if lease is None:
        api.create(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": spec,
            }
        )
    else:
        api.patch("coordination.k8s.io/v1", "leases", name, {"spec": spec}, "kube-node-lease")
