"""Thin kopf glue: observe (I/O), call the pure reconcile, act (I/O), write
status once, post the events of the transitions written.

Every ParallelJob and PipelineJob gets a kopf timer (``register``): the first
tick comes as soon as kopf sees the object (also after an operator restart),
then every ``OperatorConfig.observe_seconds``, so reconcile is level-triggered
with no handler chains. Terminal objects stop their timer (``when`` filter).
The operator reads and writes API objects only (no datastore): finalisation
runs in a finaliser Job (``pjob.kube.finaliser_job``), shipped code is
unpacked by the pods' init container (``pjob.kube.unpack_cmd``).
The API client, config, queue opener, finaliser and event poster come
through ``memo`` so tests call ``on_paralleljob_tick(body=..., patch=kopf.Patch(),
memo=...)`` directly with fakes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pjob.kube import conditions as cond
from pjob.kube import constants as c
from pjob.kube import jobspec
from pjob.kube import reconcile as rec
from pjob.kube import reconcile_pipeline as rp
from pjob.spec import errors

if TYPE_CHECKING:
    import kopf

    from pjob.engine.task import ParallelTask
    from pjob.kube.config import OperatorConfig
    from pjob.queue.protocol import Coordinator, Progress
    from pjob.spec import load

log = logging.getLogger("pjob.kube")
STATUS_KEYS_KOPF_OWNS = ("kopf",)


def status_patch(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning ``before`` into ``after`` (removed keys -> None)."""
    before = before or {}
    out = {k: v for k, v in after.items() if before.get(k) != v}
    for key in before:
        if key not in after and key not in STATUS_KEYS_KOPF_OWNS:
            out[key] = None
    return out


def _write(patch: kopf.Patch, body: dict[str, Any], decision: rec.Decision, memo: kopf.Memo) -> None:
    """The only status write of a reconcile, then its events."""
    changes = status_patch(body.get("status"), decision.status)
    if not changes:
        return
    for key, value in changes.items():
        patch.status[key] = value
    post = memo.get("post_event") or _kopf_event
    for event in decision.events:
        post(body, event)


def _kopf_event(body: dict[str, Any], event: cond.Event) -> None:
    import kopf

    kopf.event(body, type=event.type, reason=event.reason, message=event.message)  # type: ignore[arg-type]  # kopf reads any mapping with metadata


def _now(memo: kopf.Memo) -> float:
    clock = memo.get("clock")
    return float(clock()) if clock else time.time()


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """kopf's Body is a read-only mapping view; reconcile wants plain dicts."""
    import copy

    return copy.deepcopy(dict(body)) if not isinstance(body, dict) else body


def _needs_check(body: dict[str, Any]) -> bool:
    status = body.get("status") or {}
    valid = cond.find(status.get("conditions"), c.SPEC_VALID)
    return not (
        valid
        and valid.get("status") == c.TRUE
        and status.get("observedGeneration") == (body.get("metadata") or {}).get("generation")
    )


def _load(body: dict[str, Any], memo: kopf.Memo) -> tuple[load.LoadedJob | None, list[str] | None]:
    """(loaded job, problems or None when already known valid). Reads the CR
    only: no file (the pods unpack shipped code, ``pjob.kube.unpack_cmd``, and
    report missing files themselves); a pipeline's child ParallelJob carries
    its resolved task and is not loaded at all (loaded job None)."""
    from pjob.kube import preflight, unpack_cmd

    meta = body.get("metadata") or {}
    name_problems = preflight.name_problems(body.get("kind") or "", meta.get("name") or "")
    if name_problems and not (body.get("status") or {}).get("startTime"):
        return None, name_problems  # children cannot be created: say so once, never retry
    entries = unpack_cmd.shipped_entries(body)
    if entries is None:
        return None, [
            f"metadata.annotations[{unpack_cmd.ANNOTATION_SHIPPED}]: not a JSON list of {{configMap, into, sha256}}"
        ]
    shipped_problems = unpack_cmd.entry_problems(entries, meta.get("namespace") or "default")
    if shipped_problems:
        return None, shipped_problems
    check = _needs_check(body)
    if jobspec.carried_task(body) is not None:  # checked and resolved by its pipeline
        return None, [] if check else None
    loaded = jobspec.load_cr(body, memo.config)
    problems = jobspec.problem_messages(loaded)
    if not check and problems:  # valid before, model problems now: report them
        return loaded, problems
    return loaded, problems if check else None


# --- ParallelJob -----------------------------------------------------------------------------------


def on_paralleljob_tick(body: Mapping[str, Any], patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Reconcile one ParallelJob: observe, decide (``reconcile.reconcile``), act, write status once."""
    body = _plain(body)
    if cond.terminal((body.get("status") or {}).get("conditions")):
        return
    from pjob.kube import builders

    now = _now(memo)
    loaded, problems = _load(body, memo)
    started = bool((body.get("status") or {}).get("startTime"))
    if not problems or started:
        try:
            task = _started_task(body, memo) if started else None
            task = task or jobspec.parallel_task(body, loaded, memo.config)
            desired = builders.build_parallel_children(body, task, memo.config)
        except (errors.UserError, ValueError) as exc:  # a binding that cannot be resolved here
            problems = [str(exc)]
        else:
            problems = None if started else problems  # a running job keeps the spec it started with
    if problems:
        _write(patch, body, rec.reconcile(rec.Observed(body=body, now=now, problems=problems)), memo)
        return
    assert task is not None  # built above whenever there are no problems
    observed, queue = _observe_parallel(body, memo, task, desired, problems, now)
    observe_metrics(memo, body, task, observed.counters)
    decision = rec.reconcile(observed)
    _act_parallel(body, memo, decision)
    if decision.create and "outputs" not in decision.status:  # where the results will be, from the start
        decision.status["outputs"] = _output_locations(body, loaded, memo.config)
        decision.status["logs"] = task.logs_dir
    if decision.finalise is not None:  # the finaliser Job (data plane) finalises; terminal once it is done
        finaliser = memo.get("finaliser")
        outcome = (
            finaliser(task, queue, decision.finalise, body) if finaliser else (decision.finalise, observed.counters)
        )
        if outcome is not None:
            verdict, counters = outcome
            decision = rec.finished(body, decision.status, verdict, counters, _now(memo))
    _write(patch, body, decision, memo)


def _output_locations(body: dict[str, Any], loaded: load.LoadedJob | None, config: OperatorConfig) -> dict[str, str]:
    if loaded is None:  # a pipeline's child: its spec holds the concrete locations
        return {k: v["path"] for k, v in ((body.get("spec") or {}).get("outputs") or {}).items() if "path" in v}
    resolved = jobspec.resolve_steps(body, loaded, config)[jobspec.step_name(body)]
    return {k: v.location for k, v in resolved.outputs.items()}


def observe_metrics(memo: kopf.Memo, body: dict[str, Any], task: ParallelTask, counters: Progress | None) -> None:
    """Feed the operator's Prometheus collector (``--metrics-port``), if any,
    from the queue's counters (the operator reads no activity file: it has no datastore)."""
    collector = memo.get("metrics")
    if collector is None or counters is None:
        return
    meta = body["metadata"]
    collector.observe(meta["name"], task.step, counters, None, namespace=meta["namespace"])


def _started_task(body: dict[str, Any], memo: kopf.Memo) -> ParallelTask | None:
    """The task a started job runs with: its task ConfigMap (so editing the CR's
    spec later changes nothing underneath the workers), cached per object."""
    from pjob.engine.task import ParallelTask

    meta = body["metadata"]
    key = ("task", meta.get("uid"))
    if key not in memo:
        cm = memo.kube.get("ConfigMap", meta["namespace"], c.task_configmap_name(meta["name"]))
        if cm is None:
            return None
        memo[key] = ParallelTask.from_json(cm["data"]["task.json"])
    task: ParallelTask = memo[key]
    return task


def _observe_parallel(
    body: dict[str, Any],
    memo: kopf.Memo,
    task: ParallelTask,
    desired: list[dict[str, Any]],
    problems: list[str] | None,
    now: float,
) -> tuple[rec.Observed, Coordinator | None]:
    """Read what exists: the worker Job (every tick), the other children (until
    seen once by this operator process), the queue's counters, the claims the
    workers mount (until the Job exists), and the worker pods while they start
    up or once a verdict waits for them to stop. Returns (Observed, queue)."""
    from pjob.engine import policy
    from pjob.kube import preflight

    kube, config = memo.kube, memo.config
    meta = body["metadata"]
    ns, name = meta["namespace"], meta["name"]
    status = body.get("status") or {}
    job = kube.get("Job", ns, c.worker_job_name(name))
    if job is not None and (job.get("metadata") or {}).get("deletionTimestamp"):
        job = None  # being stopped
    if job is not None and memo.get("children_seen") == meta.get("uid"):
        existing = {(o["kind"], o["metadata"]["name"]) for o in desired}
    else:
        existing = {
            (o["kind"], o["metadata"]["name"])
            for o in desired
            if (job is not None if o["kind"] == "Job" else kube.get(o["kind"], ns, o["metadata"]["name"]))
        }
    opener = memo.get("open_coordinator")
    queue = opener(ns, name, task) if opener and (job is not None or status.get("verdict")) else None
    counters = queue.counters() if queue is not None else None
    claims = (
        []
        if job is not None or status.get("verdict")
        else preflight.claims_to_check(config.worker, ns, config.operator_namespace)
    )
    missing = [claim for claim in claims if kube.get("PersistentVolumeClaim", ns, claim) is None]
    running = int(((job or {}).get("status") or {}).get("active") or 0)
    pods = None
    starting = job is not None and (counters is None or cond.is_true(status.get("conditions"), c.WORKERS_PENDING))
    if status.get("verdict") or starting:
        pods = kube.list("Pod", ns, {c.LABEL_JOB: name, c.LABEL_ROLE: c.ROLE_WORKER})
    if pods is not None and status.get("verdict"):
        running = sum(1 for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))
    observed = rec.Observed(
        body=body,
        now=now,
        problems=problems,
        desired=desired,
        existing=existing,
        worker_job=job,
        counters=counters,
        limits=policy.limits_for(task),
        workers_running=running,
        stop_grace=config.stop_grace_seconds,
        pods=pods,
        claim_problems=preflight.claim_problems(missing, ns, config.operator_namespace),
    )
    return observed, queue


def _act_parallel(body: dict[str, Any], memo: kopf.Memo, decision: rec.Decision) -> None:
    meta = body["metadata"]
    for obj in decision.create:  # fixed names: a race or a restart costs a 409, never a duplicate
        memo.kube.create(obj)
    if not decision.create:
        memo["children_seen"] = meta.get("uid")
    if decision.stop_workers:
        memo.kube.delete("Job", meta["namespace"], c.worker_job_name(meta["name"]))


# --- PipelineJob -----------------------------------------------------------------------------------


def on_pipelinejob_tick(body: Mapping[str, Any], patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    body = _plain(body)
    if cond.terminal((body.get("status") or {}).get("conditions")):
        return
    kube, config = memo.kube, memo.config
    ns = body["metadata"]["namespace"]
    now = _now(memo)
    loaded, problems = _load(body, memo)
    if not problems:
        assert loaded is not None  # a PipelineJob is loaded
        try:
            steps = jobspec.pipeline_steps(body, loaded, config)
        except (errors.UserError, ValueError) as exc:
            problems = [str(exc)]
    if problems:
        _write(patch, body, rp.reconcile(rp.Observed(body=body, now=now, problems=problems)), memo)
        return
    assert loaded is not None and loaded.job is not None  # a PipelineJob without problems was loaded
    children = {}
    for step in steps:
        found = kube.get(step.child["kind"], ns, step.child["metadata"]["name"])
        if found is not None:
            children[step.name] = found
    decision = rp.reconcile(
        rp.Observed(
            body=body,
            now=now,
            problems=problems,
            steps=steps,
            children=children,
            continue_on_step_failure=bool(loaded.job.settings.continue_on_step_failure),
        )
    )
    for obj in decision.create:
        kube.create(obj)
    if cond.terminal(decision.status.get("conditions")):
        decision.status["outputs"] = {f"{s.name}.{k}": v for s in steps for k, v in _outputs_of(s).items()}
    _write(patch, body, decision, memo)


def _outputs_of(step: rp.StepInfo) -> dict[str, str]:
    child = step.child
    if child["kind"] == c.PARALLEL_KIND:
        return {k: v["path"] for k, v in (child["spec"].get("outputs") or {}).items()}
    import json

    args = child["spec"]["template"]["spec"]["containers"][0]["args"]
    payload = json.loads(args[args.index("--command-step") + 1])
    return {k: v["location"] for k, v in payload["outputs"].items()}


# --- registration --------------------------------------------------------------------------------


def _not_terminal(status: Mapping[str, Any] | None, **_: Any) -> bool:
    return not cond.terminal((status or {}).get("conditions"))


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Attach the handlers to a kopf registry (interval from the config, so
    nothing is read at import time)."""
    import kopf

    interval = config.observe_seconds
    kopf.timer(
        c.GROUP, c.VERSION, c.PARALLEL_PLURAL, interval=interval, when=_not_terminal, registry=registry, id="reconcile"
    )(on_paralleljob_tick)
    kopf.timer(
        c.GROUP, c.VERSION, c.PIPELINE_PLURAL, interval=interval, when=_not_terminal, registry=registry, id="reconcile"
    )(on_pipelinejob_tick)

    @kopf.on.login(registry=registry)
    def _login(
        **kwargs: Any,
    ) -> kopf.ConnectionInfo | None:  # a custom registry has none of kopf's default login handlers
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    def _settings(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=c.GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=c.GROUP)
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 300
        settings.execution.max_workers = 16
