"""Names the operator, its builders and its agents agree on: labels,
annotations, child-object names, condition types, and every condition reason
and message (after JobSet's ``pkg/constants``). One place, so a reason string
is never spelled twice.

Used by ``pjob.kube.builders``, ``pjob.kube.reconcile``,
``pjob.kube.reconcile_pipeline``, ``pjob.kube.handlers`` and
``pjob.kube.agent_cmd``.
"""

from __future__ import annotations

import hashlib
import re

from pjob.engine import dag
from pjob.spec import crds

GROUP = crds.GROUP
VERSION = crds.VERSION
API_VERSION = f"{GROUP}/{VERSION}"
PARALLEL_KIND, PARALLEL_PLURAL = "ParallelJob", "paralleljobs"
PIPELINE_KIND, PIPELINE_PLURAL = "PipelineJob", "pipelinejobs"

# --- labels and annotations ------------------------------------------------------------------
LABEL_JOB = f"{GROUP}/job"  # name of the ParallelJob a child belongs to
LABEL_PIPELINE = f"{GROUP}/pipeline"  # name of the PipelineJob a child belongs to
LABEL_STEP = f"{GROUP}/step"  # pipeline step name (sanitised)
LABEL_ROLE = f"{GROUP}/role"  # queue | task | worker | command | step
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "pjob-operator"

ANNOTATION_BASE_DIR = f"{GROUP}/base-dir"  # folder relative spec paths resolve against
ANNOTATION_RUN_DIR = f"{GROUP}/run-dir"  # run folder on the datastore (child ParallelJobs: the pipeline's)
ANNOTATION_STEP = f"{GROUP}/step"  # step name inside the run folder (unsanitised)
# GPUs each worker pod (instance) of a step gets: "N" on a ParallelJob, or on a PipelineJob for every step;
# "<ANNOTATION_GPUS>.<step>" on a PipelineJob for one step (wins over the pipeline-wide value)
ANNOTATION_GPUS = f"{GROUP}/gpus-per-instance"

ROLE_QUEUE, ROLE_TASK, ROLE_WORKER, ROLE_COMMAND, ROLE_STEP = "queue", "task", "worker", "command", "step"

# --- conditions ------------------------------------------------------------------------------
SPEC_VALID, RUNNING, SUCCEEDED, FAILED = "SpecValid", "Running", "Succeeded", "Failed"
# True while worker pods cannot start (reason: the pod's, e.g. ImagePullBackOff, Unschedulable; or ClaimNotFound)
WORKERS_PENDING = "WorkersPending"
CONDITION_TYPES = (SPEC_VALID, RUNNING, SUCCEEDED, FAILED, WORKERS_PENDING)
# At most one of these is True at a time; setting one True flips the others to False.
EXCLUSIVE = (RUNNING, SUCCEEDED, FAILED)
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"

# status.state, a summary for the printer column
STATE_PENDING, STATE_RUNNING, STATE_SUCCEEDED, STATE_FAILED = "Pending", "Running", "Succeeded", "Failed"
# pipeline step states: the DAG policy's (pjob.engine.dag), which pjob run uses too
STEP_PENDING, STEP_RUNNING, STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED = (
    dag.PENDING,
    dag.RUNNING,
    dag.SUCCEEDED,
    dag.FAILED,
    dag.SKIPPED,
)

# --- reasons (CamelCase, as Kubernetes wants) and messages -----------------------------------
REASON_SPEC_VALID = "SpecValid"
MSG_SPEC_VALID = "the spec passed every check"
REASON_SPEC_CHANGE_IGNORED = "SpecChangeIgnored"
MSG_SPEC_CHANGE_IGNORED = (
    "the spec changed after the job started (generation {generation}); a running job keeps "
    "the spec it started with: delete the job and create it again to apply the change"
)
REASON_SPEC_INVALID = "SpecInvalid"
REASON_WORKERS_STARTED = "WorkersStarted"
MSG_WORKERS_STARTED = "{instances} worker pod(s) started; planning mini-batches"
REASON_IN_PROGRESS = "InProgress"
MSG_IN_PROGRESS = "{done}/{total} mini-batches done, {failed} failed"
REASON_STEPS_RUNNING = "StepsRunning"
MSG_STEPS_RUNNING = "running: {running}; {succeeded}/{total} steps succeeded"
REASON_FINALISING = "Finalising"
MSG_FINALISING = "verdict {verdict}; waiting for the workers to stop, then merging outputs"
REASON_COMPLETED = "Completed"
MSG_COMPLETED = "{message}"
REASON_STEPS_COMPLETED = "StepsSucceeded"
MSG_STEPS_COMPLETED = "all {total} steps succeeded"
REASON_STEP_FAILED = "StepFailed"
MSG_STEP_FAILED = "step {step} failed: {message}; downstream steps were not started"
REASON_WORKERS_FAILED = "WorkersFailed"
REASON_CLAIM_NOT_FOUND = "ClaimNotFound"
MSG_CLAIM_NOT_FOUND = (
    "PersistentVolumeClaim {claim} not found in namespace {namespace}: worker pods mount the datastore claim "
    "{claim} from the job's own namespace, so no worker is started. Create a claim named {claim} in {namespace} "
    'bound to the same volume as the operator\'s (docs/deploy.md, "Datastore layouts"), or submit the job in '
    "namespace {operator_namespace}"
)
MSG_WORKERS_PENDING = "worker pod {pod} cannot start: {reason}: {message}{more}"
REASON_PODS_STARTED = "NotBlocked"
MSG_PODS_STARTED = "no worker pod is blocked from starting"
MSG_STARTUP_TIMEOUT = (
    "no worker pod started within --first_task_creation_timeout = {timeout:g}s of the job start "
    "({why}); fix that, or give the job more time with --first_task_creation_timeout "
    "in program_arguments"
)
MSG_NAME_TOO_LONG = (
    "metadata.name: {name!r} has {length} characters, more than {limit}: a {kind}'s name is the value of the label "
    "{label} on its child objects and worker pods, which Kubernetes limits to {limit} characters; delete the {kind} "
    "and create it again with a shorter name (pjob submit --name NAME)"
)
REASON_FINISHED = "Finished"  # Running -> False once terminal
MSG_FINISHED = "the job is {state}"


def failed_reason(rule: str | None) -> str:
    """Failed condition reason from an engine verdict rule: ``mini_batch_error_threshold``
    -> ``MiniBatchErrorThreshold``."""
    if not rule:
        return "Failed"
    return "".join(part.capitalize() for part in rule.split("_"))


# --- events ----------------------------------------------------------------------------------
EVENT_NORMAL, EVENT_WARNING = "Normal", "Warning"

# --- child object names ----------------------------------------------------------------------
MAX_NAME = 52  # Job names become pod labels (63) and pod names (<job>-<index>-<5 chars>)
MAX_CR_NAME = 63  # a CR's name is a label value (pjob.dev/job, pjob.dev/pipeline, pjob.dev/queue) on its children


def dns_name(text: str, limit: int = MAX_NAME) -> str:
    """A DNS-1123 name from ``text``; a hash suffix keeps truncated names distinct."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if len(name) <= limit and name == text:
        return name
    digest = hashlib.sha1(text.encode()).hexdigest()[:6]
    if len(name) + 7 > limit:
        name = name[: limit - 7].rstrip("-")
    return f"{name}-{digest}"


def task_configmap_name(job: str) -> str:
    return dns_name(f"{job}-task")


def worker_job_name(job: str) -> str:
    return dns_name(f"{job}-workers")


def worker_account_name(job: str) -> str:
    return dns_name(f"{job}-worker")


def step_child_name(pipeline: str, step: str) -> str:
    """Child ParallelJob or command Job of a pipeline step."""
    return dns_name(f"{pipeline}-{step}", limit=40)  # leaves room for "-workers"/"-queue"
