"""Host folders that back a pod's volume mounts in the fake kubelet.

`mounts()` returns (mountPath, host folder) for the container's volumeMounts: a folder mapped by
the test (key: volume name, PVC claimName or `pvc:<claim>`, hostPath path), else a shared folder per
PVC claim / hostPath under the kubelet workdir, a per-pod folder for emptyDir, and the files of a
ConfigMap or Secret written out for configMap/secret volumes (missing -> PodStartError(retry=True),
so the pod waits in ContainerCreating like on a real node). `subPath` is honoured.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fakekube import podenv

Obj = dict[str, Any]


def mounts(pod: Obj, container: Obj, pod_dir: Path, workdir: Path, volume_paths: dict[str, str | Path],
           lookup: podenv.Lookup) -> list[tuple[str, Path]]:
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    found = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise podenv.PodStartError(f"volumeMount {mount['name']!r} has no volume")
        host = host_path(pod, volume, pod_dir, workdir, volume_paths, lookup)
        if mount.get("subPath"):
            host = host / mount["subPath"]
            host.mkdir(parents=True, exist_ok=True)
        found.append((mount["mountPath"], host))
    return found


def host_path(pod: Obj, volume: Obj, pod_dir: Path, workdir: Path, volume_paths: dict[str, str | Path],
              lookup: podenv.Lookup) -> Path:
    name, namespace = volume["name"], pod["metadata"]["namespace"]
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    host = (volume.get("hostPath") or {}).get("path")
    for key in (name, claim, f"pvc:{claim}" if claim else None, host):
        if key and key in volume_paths:
            path = Path(volume_paths[key])
            path.mkdir(parents=True, exist_ok=True)
            return path
    if claim:
        path = workdir / "pvc" / namespace / claim
    elif host:
        path = workdir / "hostpath" / host.strip("/")
    elif "configMap" in volume or "secret" in volume:
        return _projected(volume, namespace, pod_dir / "volumes" / name, lookup)
    else:
        path = pod_dir / "volumes" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _projected(volume: Obj, namespace: str, path: Path, lookup: podenv.Lookup) -> Path:
    secret = "secret" in volume
    source = volume["secret" if secret else "configMap"]
    ref_name = source.get("secretName") if secret else source.get("name")
    obj = lookup("secrets" if secret else "configmaps", namespace, ref_name)
    if obj is None:
        if source.get("optional"):
            path.mkdir(parents=True, exist_ok=True)
            return path
        raise podenv.PodStartError(f"{'secret' if secret else 'configmap'} {ref_name!r} not found", retry=True)
    podenv.materialize(path, podenv.volume_bytes(obj, secret), source.get("items"))
    return path
