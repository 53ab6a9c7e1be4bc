"""The host folders behind a pod's volumes, as the stand-in kubelet prepares them.

- persistentVolumeClaim: the claim must be Bound; its PersistentVolume's `hostPath.path` or
  `local.path` is the folder (what a real node mounts for those volume types);
- emptyDir: a folder per pod; hostPath: the path itself;
- configMap / secret / downwardAPI / projected (serviceAccountToken via the TokenRequest API,
  the `kube-root-ca.crt` ConfigMap, the namespace): files written per pod, read-only.
Anything that is not there yet raises PodStartError(retry=True) (the pod waits in
ContainerCreating), as on a real node.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from realkube.kubelet import podenv
from realkube.kubelet.podenv import PodStartError
from realkube.rest import ApiError, Client

Obj = dict[str, Any]


def _get(api: Client, plural: str, namespace: str | None, name: str) -> Obj:
    try:
        obj = api.get("v1", plural, name, namespace)
    except ApiError as error:
        raise PodStartError(f"{plural} {name!r}: {error}", retry=True) from None
    if obj is None:
        raise PodStartError(f'{plural[:-1]} "{name}" not found', retry=True)
    return obj


def _token(api: Client, pod: Obj, source: Obj) -> bytes:
    meta = pod["metadata"]
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [source["audience"]] if source.get("audience") else None,
            "expirationSeconds": int(source.get("expirationSeconds", 3607)),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
        },
    }
    path = api.resource_path(
        "v1", "serviceaccounts", meta["namespace"], pod["spec"].get("serviceAccountName") or "default", "token"
    )
    try:
        return api.request("POST", path, request)["status"]["token"].encode()
    except ApiError as error:
        raise PodStartError(f"service account token: {error}", retry=True) from None


def _projected(api: Client, pod: Obj, volume: Obj, folder: Path) -> None:
    namespace = pod["metadata"]["namespace"]
    for source in volume["projected"].get("sources") or []:
        if "serviceAccountToken" in source:
            target = folder / source["serviceAccountToken"]["path"]
            target.write_bytes(_token(api, pod, source["serviceAccountToken"]))
        elif "configMap" in source or "secret" in source:
            _object_files(api, namespace, source, folder)
        elif "downwardAPI" in source:
            _downward(pod, source["downwardAPI"], folder)


def _object_files(api: Client, namespace: str, source: Obj, folder: Path) -> None:
    """A configMap or secret volume (or projected source) written as files: every key, or `items`."""
    secret = "secret" in source
    ref = source["secret" if secret else "configMap"]
    obj = _get(api, "secrets" if secret else "configmaps", namespace, ref.get("secretName") or ref["name"])
    podenv.materialize(folder, podenv.volume_bytes(obj, secret=secret), ref.get("items"))


def _downward(pod: Obj, spec: Obj, folder: Path) -> None:
    for item in spec.get("items") or []:
        if "fieldRef" in item:
            (folder / item["path"]).write_text(podenv.field_value(pod, item["fieldRef"]["fieldPath"]))


def host_folders(api: Client, pod: Obj, pod_dir: Path) -> dict[str, tuple[Path, bool]]:
    """volume name -> (host folder, read-only) for every volume of `pod`."""
    namespace = pod["metadata"]["namespace"]
    out: dict[str, tuple[Path, bool]] = {}
    for volume in pod["spec"].get("volumes") or []:
        name = volume["name"]
        folder = pod_dir / "volumes" / name
        if "emptyDir" in volume:
            folder.mkdir(parents=True, exist_ok=True)
            out[name] = (folder, False)
        elif "hostPath" in volume:
            out[name] = (Path(volume["hostPath"]["path"]), False)
        elif "persistentVolumeClaim" in volume:
            claim = _get(api, "persistentvolumeclaims", namespace, volume["persistentVolumeClaim"]["claimName"])
            if (claim.get("status") or {}).get("phase") != "Bound":
                raise PodStartError(f"persistentvolumeclaim {claim['metadata']['name']!r} is not bound", retry=True)
            pv = _get(api, "persistentvolumes", None, claim["spec"]["volumeName"])
            source = pv["spec"].get("hostPath") or pv["spec"].get("local")
            if not source:
                raise PodStartError(
                    f"persistentvolume {pv['metadata']['name']!r}: only hostPath and local "
                    "volumes can be mounted by this node"
                )
            out[name] = (Path(source["path"]), bool(volume["persistentVolumeClaim"].get("readOnly")))
        else:
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            if "configMap" in volume or "secret" in volume:
                _object_files(api, namespace, volume, folder)
            elif "projected" in volume:
                _projected(api, pod, volume, folder)
            elif "downwardAPI" in volume:
                _downward(pod, volume["downwardAPI"], folder)
            else:
                raise PodStartError(
                    f"volume {name!r}: type {sorted(set(volume) - {'name'})} is not supported by this node"
                )
            out[name] = (folder, True)
    return out


def mounts_for(container: Obj, folders: dict[str, tuple[Path, bool]]) -> list[Obj]:
    """podinit's mount list for one container (subPath supported)."""
    mounts = []
    for mount in container.get("volumeMounts") or []:
        if mount["name"] not in folders:
            raise PodStartError(f"volumeMount {mount['name']!r} names no volume of the pod")
        host, read_only = folders[mount["name"]]
        if mount.get("subPath"):
            host = host / mount["subPath"]
            host.mkdir(parents=True, exist_ok=True)
        mounts.append(
            {"host": str(host), "path": mount["mountPath"], "readOnly": bool(mount.get("readOnly")) or read_only}
        )
    return mounts


def dump(spec: Obj, path: Path) -> Path:
    path.write_text(json.dumps(spec))
    return path
