"""Pure builders of every object the operator creates, as plain dicts (after
KubeRay's ``common/pod.go`` and dask-kubernetes' ``build_*_spec``): the same
functions serve the operator (``pjob.kube.handlers``) and ``pjob operator
render``, so what render prints is what the cluster gets.

A ParallelJob owns: the task ConfigMap (the resolved ``ParallelTask``,
immutable), the queue ConfigMap (coordinator state), the workers'
ServiceAccount/Role/RoleBinding and one Indexed ``batch/v1`` Job. A
PipelineJob owns one child ParallelJob per parallel step and one ``batch/v1``
Job per command step. Every child carries an ownerReference to its CR, so
deleting the CR garbage-collects the lot.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from pjob.coord import kube as coord_kube
from pjob.engine import agent as engine_agent
from pjob.engine import diskfull
from pjob.engine.task import ParallelTask
from pjob.kube import constants as c
from pjob.kube import jobspec, pod_options, rbac, unpack_cmd
from pjob.kube.config import OperatorConfig
from pjob.spec import load, models, resolve

UNKNOWN_UID = "<assigned-by-the-api-server>"
TASK_ANNOTATION = jobspec.ANNOTATION_TASK
COMPONENTS_ANNOTATION = jobspec.ANNOTATION_COMPONENTS
SHIPPED = unpack_cmd.ANNOTATION_SHIPPED


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner.get("apiVersion", c.API_VERSION),
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta.get("uid") or UNKNOWN_UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(owner: dict[str, Any], role: str, extra: dict[str, Any] | None = None) -> dict[str, str]:
    key = c.LABEL_JOB if owner["kind"] == c.PARALLEL_KIND else c.LABEL_PIPELINE
    out = {c.LABEL_MANAGED_BY: c.MANAGED_BY, key: owner["metadata"]["name"], c.LABEL_ROLE: role}
    out.update(extra or {})
    return out


def _metadata(
    owner: dict[str, Any],
    name: str,
    role: str,
    labels: dict[str, Any] | None = None,
    annotations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta = {
        "name": name,
        "namespace": owner["metadata"].get("namespace") or "default",
        "labels": _labels(owner, role, labels),
        "ownerReferences": [owner_reference(owner)],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


# --- a ParallelJob's children ------------------------------------------------------------------


def build_task_configmap(cr: dict[str, Any], task: ParallelTask) -> dict[str, Any]:
    """The resolved task, read by every agent (``pjob agent --task configmap:<name>``)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(cr, c.task_configmap_name(cr["metadata"]["name"]), c.ROLE_TASK),
        "immutable": True,
        "data": {"task.json": task.to_json()},
    }


def build_queue_configmap(cr: dict[str, Any], max_attempts: int) -> dict[str, Any]:
    """The coordinator's queue (``pjob.coord.kube`` owns its format), created
    by the operator without a plan (node 0 publishes it) and owned by the CR."""
    meta = cr["metadata"]
    namespace = meta.get("namespace") or "default"
    obj = coord_kube.queue_configmap(namespace, meta["name"], None, max_attempts, [owner_reference(cr)])
    obj["metadata"]["labels"].update(_labels(cr, c.ROLE_QUEUE))
    return obj


def build_worker_service_account(cr: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(cr, c.worker_account_name(cr["metadata"]["name"]), c.ROLE_WORKER),
        "automountServiceAccountToken": True,
    }


def build_worker_role(cr: dict[str, Any]) -> dict[str, Any]:
    """Exactly what ``pjob agent`` calls (``pjob.kube.rbac.WORKER``)."""
    rules = [
        {"apiGroups": [need.group], "resources": [need.resource], "verbs": sorted(need.verbs)} for need in rbac.WORKER
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(cr, c.worker_account_name(cr["metadata"]["name"]), c.ROLE_WORKER),
        "rules": rules,
    }


def build_worker_rolebinding(cr: dict[str, Any]) -> dict[str, Any]:
    name = c.worker_account_name(cr["metadata"]["name"])
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(cr, name, c.ROLE_WORKER),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [
            {"kind": "ServiceAccount", "name": name, "namespace": cr["metadata"].get("namespace") or "default"}
        ],
    }


def _platform_env(config: OperatorConfig) -> list[dict[str, Any]]:
    env = copy.deepcopy(config.worker.get("env") or [])
    env += [
        {"name": "PJOB_DATASTORE_ROOT", "value": config.datastore_root},
        {"name": "PJOB_LEASE_SECONDS", "value": f"{config.lease_seconds:g}"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    return env


def _pod_spec(
    config: OperatorConfig, container: dict[str, Any], *, service_account: str | None, restart: str
) -> dict[str, Any]:
    w = config.worker
    container = {
        "image": w["image"],
        "imagePullPolicy": w.get("imagePullPolicy") or "IfNotPresent",
        **container,
        "resources": copy.deepcopy(w.get("resources") or {}),
        "securityContext": copy.deepcopy(w["securityContext"]),
        "volumeMounts": copy.deepcopy(w.get("volumeMounts") or []),
    }
    if w.get("envFrom"):
        container["envFrom"] = copy.deepcopy(w["envFrom"])
    spec: dict[str, Any] = {
        "restartPolicy": restart,
        "securityContext": copy.deepcopy(w["podSecurityContext"]),
        "terminationGracePeriodSeconds": int(w.get("terminationGracePeriodSeconds") or 60),
        "containers": [container],
        "volumes": copy.deepcopy(w.get("volumes") or []),
    }
    if service_account:
        spec["serviceAccountName"] = service_account
        spec["automountServiceAccountToken"] = True
    else:
        spec["automountServiceAccountToken"] = False  # command steps never call the API
    for key in ("nodeSelector", "tolerations", "affinity", "imagePullSecrets"):
        if w.get(key):
            spec[key] = copy.deepcopy(w[key])
    if w.get("priorityClassName"):
        spec["priorityClassName"] = w["priorityClassName"]
    return spec


def _template_metadata(labels: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {**(config.worker.get("podLabels") or {}), **labels}}
    if config.worker.get("podAnnotations"):
        meta["annotations"] = dict(config.worker["podAnnotations"])
    return meta


def agent_args(cr: dict[str, Any]) -> list[str]:
    meta = cr["metadata"]
    return [
        "agent",
        "--coordinator",
        f"kube://{meta.get('namespace') or 'default'}/{meta['name']}",
        "--task",
        f"configmap:{c.task_configmap_name(meta['name'])}",
    ]


def build_worker_job(cr: dict[str, Any], task: ParallelTask, config: OperatorConfig) -> dict[str, Any]:
    """One Indexed Job: completions = parallelism = instance_count; pod i runs
    agent node i (``JOB_COMPLETION_INDEX``)."""
    name = cr["metadata"]["name"]
    instances = max(1, int(task.instance_count))
    labels = _labels(cr, c.ROLE_WORKER)
    container = {
        "name": "agent",
        "args": agent_args(cr),
        "env": _platform_env(config),
        "workingDir": config.worker.get("workDir") or "/work",
    }
    pod = _pod_spec(config, container, service_account=c.worker_account_name(name), restart="Never")
    pod_options.add_gpus(pod, config, int(task.gpus or 0))
    pod_options.add_pip_env(pod, config, task.conda_file)
    unpack_cmd.add_to_pod(pod, unpack_cmd.shipped_entries(cr) or [], _namespace(cr))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(cr, c.worker_job_name(name), c.ROLE_WORKER),
        "spec": {
            "completionMode": "Indexed",
            "completions": instances,
            "parallelism": instances,
            # an agent that crashes is replaced; its leases expire and are reclaimed
            "backoffLimit": 3 * instances,
            "podFailurePolicy": {
                "rules": [
                    # exit 3: a fatal error of the job itself (init() keeps failing, the input cannot be planned);
                    # exit 4: the disk is full; both leave a fatal record that finalisation explains
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": "agent",
                            "operator": "In",
                            "values": [engine_agent.EXIT_FATAL, diskfull.EXIT_NO_SPACE],
                        },
                    },
                    *unpack_cmd.failure_rules(unpack_cmd.shipped_entries(cr)),
                    # preemption/eviction is not the job's fault: replace the pod without counting a failure
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                ]
            },
            "template": {"metadata": _template_metadata(labels, config), "spec": pod},
        },
    }


def _namespace(cr: dict[str, Any]) -> str:
    return cr["metadata"].get("namespace") or "default"


def build_parallel_children(cr: dict[str, Any], task: ParallelTask, config: OperatorConfig) -> list[dict[str, Any]]:
    """Everything a ParallelJob owns, in creation order (the Job last: its pods need the rest)."""
    return [
        build_task_configmap(cr, task),
        build_queue_configmap(cr, 1 + max(0, task.max_retries)),
        build_worker_service_account(cr),
        build_worker_role(cr),
        build_worker_rolebinding(cr),
        build_worker_job(cr, task, config),
    ]


# --- a PipelineJob's children -------------------------------------------------------------------


def command_step_payload(resolved: resolve.ResolvedStep, step_dir: str, timeout: float | None) -> dict[str, Any]:
    """What a command-step pod runs (``pjob agent --command-step JSON``)."""
    return {
        "step": resolved.name,
        "command": resolved.command or "",
        "code_dir": resolved.code_dir,
        "step_dir": step_dir,
        "outputs": {k: {"type": v.type, "location": v.location} for k, v in resolved.outputs.items()},
        "timeout": timeout,
    }


def build_command_job(
    pipeline: dict[str, Any],
    step_name: str,
    step: models.CommandStep,
    resolved: resolve.ResolvedStep,
    step_dir: str,
    config: OperatorConfig,
    *,
    gpus: int = 0,
    conda_file: str | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One pod running the step's command (``gpus`` per pod, the chart's
    pip-from-conda-file wrapper when ``conda_file`` is given and it is enabled)."""
    limit = step.limits.timeout if step.limits else None
    payload = command_step_payload(resolved, step_dir, float(limit) if limit else None)
    env = _platform_env(config) + [{"name": k, "value": v} for k, v in sorted(resolved.env.items())]
    labels = _labels(pipeline, c.ROLE_COMMAND, {c.LABEL_STEP: c.dns_name(step_name, 63)})
    container = {
        "name": "command",
        "args": ["agent", "--command-step", json.dumps(payload, sort_keys=True)],
        "env": env,
        "workingDir": config.worker.get("workDir") or "/work",
    }
    pod = _pod_spec(config, container, service_account=None, restart="Never")
    pod_options.add_gpus(pod, config, gpus)
    pod_options.add_pip_env(pod, config, conda_file)
    unpack_cmd.add_to_pod(pod, unpack_cmd.shipped_entries(pipeline) or [], _namespace(pipeline))
    spec: dict[str, Any] = {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 0,  # like `pjob run`: a failed command fails its step
        "template": {"metadata": _template_metadata(labels, config), "spec": pod},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(
            pipeline,
            c.step_child_name(pipeline["metadata"]["name"], step_name),
            c.ROLE_COMMAND,
            labels={c.LABEL_STEP: c.dns_name(step_name, 63)},
            annotations={c.ANNOTATION_STEP: step_name},
        ),
        "spec": spec,
    }


def _concrete_inputs(resolved: resolve.ResolvedStep) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in resolved.inputs.items():
        if isinstance(value, resolve.DataValue):
            out[key] = {"type": value.type, "path": value.location, **({"mode": value.mode} if value.mode else {})}
        elif value is not None:
            out[key] = value
    return out


def build_child_paralleljob(
    pipeline: dict[str, Any],
    step_name: str,
    step: models.ParallelStep,
    resolved: resolve.ResolvedStep,
    run_dir: str,
    *,
    gpus: int = 0,
    conda_file: str | dict[str, Any] | None = None,
    task: ParallelTask | None = None,
) -> dict[str, Any]:
    """A pipeline's parallel step as its own ParallelJob: bindings replaced by
    the concrete locations they resolved to, working in the pipeline's run
    folder; ``gpus`` as its annotation, ``conda_file`` (absolute) in its environment;
    ``task`` (the step's resolved ``ParallelTask``) in ``pjob.dev/task``, so the
    child is not loaded, checked or resolved a second time; the pipeline's
    shipped bundles in ``pjob.dev/shipped`` (its pods unpack them)."""
    spec = step.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    spec["type"] = "parallel"
    if conda_file is not None and isinstance(spec["task"].get("environment"), dict):
        spec["task"]["environment"]["conda_file"] = conda_file
    spec["inputs"] = _concrete_inputs(resolved)
    spec["outputs"] = {k: {"type": v.type, "path": v.location} for k, v in resolved.outputs.items()}
    spec["task"]["code"] = resolved.code_dir
    spec.pop("name", None)
    name = c.step_child_name(pipeline["metadata"]["name"], step_name)
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.PARALLEL_KIND,
        "metadata": _metadata(
            pipeline,
            name,
            c.ROLE_STEP,
            labels={c.LABEL_STEP: c.dns_name(step_name, 63)},
            annotations={
                c.ANNOTATION_RUN_DIR: run_dir,
                c.ANNOTATION_STEP: step_name,
                **({c.ANNOTATION_GPUS: str(gpus)} if gpus else {}),
                **({TASK_ANNOTATION: task.to_json()} if task is not None else {}),
                **{k: v for k, v in (pipeline["metadata"].get("annotations") or {}).items() if k == SHIPPED},
            },
        ),
        "spec": spec,
    }


# --- the custom resources themselves (render, submit) -----------------------------------------


def build_job_cr(loaded: load.LoadedJob, *, namespace: str, name: str, base_dir: str | None = None) -> dict[str, Any]:
    """The CR for a job YAML: a ParallelJob for ``type: parallel``, else a
    PipelineJob. ``base_dir`` (default: the YAML's folder) is where relative
    paths resolve on the cluster (``pjob submit`` points it at the shipped copy)."""
    annotations = {c.ANNOTATION_BASE_DIR: base_dir or loaded.base_dir}
    if loaded.components:  # the operator reads no file: it gets the component YAMLs from the CR
        annotations[COMPONENTS_ANNOTATION] = json.dumps(jobspec.component_texts(loaded), sort_keys=True)
    assert loaded.job is not None  # a job that loaded
    if loaded.wrapped == "parallel":
        step = next(iter(loaded.job.jobs.values()))
        spec = step.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
        spec["type"] = "parallel"
        kind = c.PARALLEL_KIND
    else:
        spec = loaded.job.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
        spec.pop("$schema", None)
        spec["type"] = "pipeline"
        kind = c.PIPELINE_KIND
    return {
        "apiVersion": c.API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": spec,
    }


def default_cr_name(loaded: load.LoadedJob) -> str:
    job = loaded.job
    assert job is not None  # a job that loaded
    raw = job.name or job.display_name or os.path.basename(loaded.base_dir) or "job"
    return c.dns_name(raw, 40)
