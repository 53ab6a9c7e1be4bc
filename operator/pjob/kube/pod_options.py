"""Per-step additions to a worker pod the builders (``pjob.kube.builders``)
make after laying out the chart's defaults:

- GPUs (``pjob.dev/gpus-per-instance``): ``resources.limits[<worker.gpu.resourceName>]``
  plus the chart's GPU ``nodeSelector`` and ``tolerations``;
- ``worker.pipFromCondaFile``: when enabled and the step's environment has a
  ``conda_file``, the container runs ``pjob-pip-env --conda-file F --cache C --
  pjob <args>`` (``worker_image/pjob_pip_env.py``) with the cache path mounted.
  An inline conda mapping travels in ``$PJOB_CONDA_YAML`` and is written to
  ``$TMPDIR`` by ``sh`` first (pjob-pip-env reads ``$PJOB_CONDA_FILE``).

Pure functions on plain dicts; they edit the pod spec they are given.
"""

from __future__ import annotations

import copy
import json
import shlex
from typing import Any

from pjob.kube.config import DEFAULT_GPU, DEFAULT_PIP_FROM_CONDA_FILE, OperatorConfig

AGENT_PROGRAM = "pjob"  # the image's ENTRYPOINT, named explicitly once `command` replaces it
PIP_CACHE_VOLUME = "pip-cache"
INLINE_CONDA_ENV = "PJOB_CONDA_YAML"
INLINE_CONDA_SCRIPT = (
    'f="${TMPDIR:-/tmp}/pjob-conda.yml"; printf "%s\\n" "$PJOB_CONDA_YAML" > "$f" && PJOB_CONDA_FILE="$f" exec "$@"'
)


def add_gpus(pod_spec: dict[str, Any], config: OperatorConfig, gpus: int) -> None:
    """``gpus`` per pod: the extended resource as a limit (and request, when the
    chart requests it), the GPU node selector and tolerations. 0 -> unchanged."""
    if gpus <= 0:
        return
    gpu = {**DEFAULT_GPU, **(config.worker.get("gpu") or {})}
    resource = gpu.get("resourceName") or DEFAULT_GPU["resourceName"]
    container = pod_spec["containers"][0]
    resources = container.setdefault("resources", {})
    resources.setdefault("limits", {})[resource] = str(gpus)
    if resource in (resources.get("requests") or {}):
        resources["requests"][resource] = str(gpus)  # an extended resource's request must equal its limit
    if gpu.get("nodeSelector"):
        pod_spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}), **gpu["nodeSelector"]}
    tolerations = list(pod_spec.get("tolerations") or [])
    tolerations += [copy.deepcopy(t) for t in gpu.get("tolerations") or [] if t not in tolerations]
    if tolerations:
        pod_spec["tolerations"] = tolerations


def pip_env_enabled(config: OperatorConfig) -> bool:
    return bool((config.worker.get("pipFromCondaFile") or {}).get("enabled"))


def add_pip_env(pod_spec: dict[str, Any], config: OperatorConfig, conda_file: str | dict[str, Any] | None) -> None:
    """Run the container through pjob-pip-env when the chart enables it and the
    step has a conda file (its ``args`` stay the ``pjob`` arguments)."""
    if conda_file is None or not pip_env_enabled(config):
        return
    pip = {**DEFAULT_PIP_FROM_CONDA_FILE, **config.worker["pipFromCondaFile"]}
    cache: str = pip.get("cachePath") or DEFAULT_PIP_FROM_CONDA_FILE["cachePath"]
    wrapper = shlex.split(str(pip.get("command") or DEFAULT_PIP_FROM_CONDA_FILE["command"]))
    container = pod_spec["containers"][0]
    if isinstance(conda_file, dict):
        container.setdefault("env", []).append(
            {"name": INLINE_CONDA_ENV, "value": json.dumps(conda_file, sort_keys=True)}
        )
        command = ["sh", "-c", INLINE_CONDA_SCRIPT, "sh", *wrapper]
    else:
        command = [*wrapper, "--conda-file", conda_file]
    container["command"] = command + ["--cache", cache, "--", AGENT_PROGRAM]
    _mount_cache(pod_spec, container, cache)


def _mount_cache(pod_spec: dict[str, Any], container: dict[str, Any], cache: str) -> None:
    """The chart mounts the cache (a claim or an emptyDir) in ``worker.volumeMounts``;
    without it the pod gets an emptyDir there (installs then last one pod)."""
    mounts = container.setdefault("volumeMounts", [])
    if any(m.get("mountPath", "").rstrip("/") == cache.rstrip("/") for m in mounts):
        return
    volumes = pod_spec.setdefault("volumes", [])
    if not any(v.get("name") == PIP_CACHE_VOLUME for v in volumes):
        volumes.append({"name": PIP_CACHE_VOLUME, "emptyDir": {}})
    mounts.append({"name": PIP_CACHE_VOLUME, "mountPath": cache})
