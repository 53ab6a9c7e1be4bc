"""`FakeKubelet`: runs pods as local processes and drives the fake job controller.

One background thread, woken by every store change (and every `sync_interval` to notice process
exits): it runs `jobcontroller.plan_job` for each batch/v1 Job and applies the plan, binds new pods
to the fake node, starts each pod's first container as a local process group (command + args,
env, workingDir, volumes backed by host folders), reports pod status (Pending -> Running ->
Succeeded/Failed with containerStatuses and exit codes; restarts under OnFailure/Always), and
terminates processes on pod deletion (SIGTERM to the container's main process, then SIGKILL to its
whole process group after the grace period, capped; leftover processes of a container whose main
process exited are killed too, as a runtime tears down the container).

Test hooks: `processes()`, `pod_process()`, `kill_pod()` (kill -9 by default), `wait_for()`,
`wait_job()`, `log_path()`, and `errors` (exceptions raised inside the thread; should stay empty).
"""
from __future__ import annotations

import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fakekube import errors, jobcontroller, podenv, podstatus, processes, volumes
from fakekube.api import FakeApiServer
from fakekube.store import now_rfc3339

Obj = dict[str, Any]


@dataclass
class FakeKubelet:
    """See module docstring. `volume_paths` maps a volume name, PVC claimName or hostPath path to a host folder."""

    api: FakeApiServer
    workdir: Path | None = None
    volume_paths: dict[str, str | Path] = field(default_factory=dict)
    executables: dict[str, str] = field(default_factory=dict)
    image_commands: dict[str, list[str]] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    grace_cap_seconds: float = 3.0
    sync_interval: float = 0.05
    node_name: str = "fakekube-node"
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix="fakekubelet-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        venv_bin = str(Path(sys.executable).parent)
        defaults = {"python": sys.executable, "python3": sys.executable}
        self.executables = {**defaults, **self.executables}
        self._base_env = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
        self._base_env.pop("KUBECONFIG", None)
        self._procs: dict[str, processes.PodProcess] = {}
        self._orphans: list[processes.PodProcess] = []
        self._index_failures: dict[str, dict[int, int]] = {}
        self._events_sent: set[tuple[str, str, str]] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "FakeKubelet":
        self.api.log_reader = self.log_path
        self.api.store.add_listener(self._on_change)
        self.api.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name},
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        self._thread = threading.Thread(target=self._run, name="fakekube-kubelet", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.api.store.remove_listener(self._on_change)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for proc in list(self._procs.values()) + self._orphans:
                proc.kill_all()
            for proc in list(self._procs.values()) + self._orphans:
                try:
                    proc.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass

    def _on_change(self, change) -> None:
        # ConfigMap/Secret changes (coordinator traffic) do not wake us: pods waiting for one are
        # retried every sync_interval anyway.
        if change.storage_key in (("", "pods"), ("batch", "jobs")):
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.sync_interval)
            self._wake.clear()
            try:
                self.sync_once()
            except Exception:  # noqa: BLE001 - keep the kubelet alive, surface through .errors
                self.errors.append(traceback.format_exc())

    # --- test hooks ----------------------------------------------------------------------------

    def processes(self) -> list[processes.PodProcess]:
        """Live pod processes."""
        with self._lock:
            return [p for p in self._procs.values() if p.alive]

    def pod_process(self, namespace: str, name: str) -> processes.PodProcess | None:
        with self._lock:
            return next((p for p in self._procs.values() if (p.namespace, p.name) == (namespace, name)), None)

    def kill_pod(self, namespace: str, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (default SIGKILL, i.e. `kill -9`) to the pod's process group."""
        proc = self.pod_process(namespace, name)
        if proc is None:
            raise KeyError(f"no process for pod {namespace}/{name}")
        proc.signal(sig)

    def preempt_pod(self, namespace: str, name: str) -> None:
        """What preemption does: mark the pod DisruptionTarget=True, then delete it gracefully (SIGTERM first)."""
        self.api.store.mark_disruption(namespace, name, "PreemptionByScheduler",
                                       "fakekube: preempted to accommodate a higher priority pod")
        self.api.store.delete(self.api.rtype("v1", "pods"), namespace, name)

    def log_path(self, namespace: str, name: str, container: str | None = None) -> Path:
        return self.workdir / "logs" / f"{namespace}_{name}.log"

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, message: str = "condition") -> Any:
        def checked():
            if self.errors:
                raise AssertionError("fake kubelet failed:\n" + "\n".join(self.errors))
            return predicate()
        return self.api.wait_for(checked, timeout=timeout, message=message)

    def wait_job(self, namespace: str, name: str, timeout: float = 20.0) -> Obj:
        """Wait until the Job has a Complete or Failed condition; return the Job."""
        def finished():
            job = self.api.get("batch/v1", "jobs", name, namespace)
            return job if job is not None and jobcontroller.is_finished(job) else None
        return self.wait_for(finished, timeout, f"job {namespace}/{name} to finish")

    # --- one sync pass -------------------------------------------------------------------------

    def sync_once(self) -> None:
        jobs = self.api.list("batch/v1", "jobs")
        pods = self.api.list("v1", "pods")
        for job in jobs:
            try:
                self._sync_job(job, [p for p in pods if p["metadata"]["namespace"] == job["metadata"]["namespace"]])
            except errors.ApiError as error:
                if error.code not in (403, 404, 409):
                    raise
        self._drop_orphan_finalizers(jobs, pods)
        pods = self.api.list("v1", "pods")
        with self._lock:
            live_uids = {p["metadata"]["uid"] for p in pods}
            for uid in [uid for uid in self._procs if uid not in live_uids]:
                proc = self._procs.pop(uid)
                self._begin_termination(proc, self.grace_cap_seconds)
                if self._advance_termination(proc):
                    self._orphans.append(proc)
            for proc in list(self._orphans):
                if not self._advance_termination(proc):
                    self._orphans.remove(proc)
            for pod in pods:
                try:
                    self._sync_pod(pod)
                except errors.ApiError as error:
                    if error.code not in (403, 404, 409):
                        raise

    def _sync_job(self, job: Obj, pods: list[Obj]) -> None:
        uid = job["metadata"]["uid"]
        if job["metadata"].get("deletionTimestamp"):
            return
        finished = jobcontroller.is_finished(job)
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if finished and ttl is not None:
            done_at = next(c["lastTransitionTime"] for c in job["status"]["conditions"] if c["type"] == finished)
            age = datetime.datetime.now(datetime.timezone.utc) - jobcontroller.parse_rfc3339(done_at)
            if age.total_seconds() >= ttl:
                self.api.store.delete(self.api.rtype("batch/v1", "jobs"), job["metadata"]["namespace"],
                                      job["metadata"]["name"], propagation="Background")
                return
        plan = jobcontroller.plan_job(job, pods, datetime.datetime.now(datetime.timezone.utc),
                                      self._index_failures.get(uid, {}))
        self._index_failures[uid] = plan.index_failures
        namespace = job["metadata"]["namespace"]
        store, pod_type, job_type = self.api.store, self.api.rtype("v1", "pods"), self.api.rtype("batch/v1", "jobs")
        for name in plan.counted:
            store.update(pod_type, namespace, name, _without_tracking_finalizer)
        for name in plan.delete:
            store.delete(pod_type, namespace, name)
        for body in plan.create:
            try:
                store.create(pod_type, namespace, body)
            except errors.ApiError as error:
                if error.code not in (403, 422):
                    raise
                self._event_once(job, "FailedCreate", f"Error creating: {error.message}")
                return
        if plan.status != (job.get("status") or {}):
            store.update(job_type, namespace, job["metadata"]["name"],
                         lambda current: {**current, "status": plan.status},
                         subresource="status")

    def _event_once(self, job: Obj, reason: str, message: str) -> None:
        """A Warning Event on the Job, like the real controller's (once per job and message)."""
        key = (job["metadata"]["uid"], reason, message)
        if key in self._events_sent:
            return
        self._events_sent.add(key)
        meta = job["metadata"]
        self.api.store.create(self.api.rtype("v1", "events"), meta["namespace"], {
            "metadata": {"generateName": f"{meta['name']}."}, "type": "Warning", "reason": reason, "message": message,
            "involvedObject": {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta["uid"]},
            "source": {"component": "job-controller"}, "reportingComponent": "job-controller", "count": 1,
            "firstTimestamp": now_rfc3339(), "lastTimestamp": now_rfc3339(), "eventTime": None})

    def _drop_orphan_finalizers(self, jobs: list[Obj], pods: list[Obj]) -> None:
        job_uids = {job["metadata"]["uid"] for job in jobs}
        pod_type = self.api.rtype("v1", "pods")
        for pod in pods:
            if jobcontroller.TRACKING_FINALIZER not in (pod["metadata"].get("finalizers") or []):
                continue
            owners = {ref.get("uid") for ref in pod["metadata"].get("ownerReferences") or [] if ref.get("controller")}
            phase = (pod.get("status") or {}).get("phase")
            if not owners & job_uids and (phase in jobcontroller.TERMINAL or not owners):
                try:
                    self.api.store.update(pod_type, pod["metadata"]["namespace"], pod["metadata"]["name"],
                                          _without_tracking_finalizer)
                except errors.ApiError as error:
                    if error.code != 404:
                        raise

    # --- pods ----------------------------------------------------------------------------------

    def _sync_pod(self, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        status = pod.get("status") or {}
        phase = status.get("phase")
        proc = self._procs.get(meta["uid"])
        pod_type = self.api.rtype("v1", "pods")
        if meta.get("deletionTimestamp"):
            confirmed = meta.get("deletionGracePeriodSeconds") == 0
            if proc is not None:
                grace = 0.0 if confirmed else min(float(meta.get("deletionGracePeriodSeconds") or 0),
                                                  self.grace_cap_seconds)
                self._begin_termination(proc, grace)
                if self._advance_termination(proc):
                    return
            if phase not in jobcontroller.TERMINAL:
                self._write_status(pod, self._terminated_status(pod, proc))
            if not confirmed:
                self.api.store.delete(pod_type, meta["namespace"], meta["name"], grace_seconds=0)
            return
        if phase in jobcontroller.TERMINAL:
            return
        if not spec.get("nodeName"):
            self.api.store.update(pod_type, meta["namespace"], meta["name"],
                                  lambda current: {**current, "spec": {**current["spec"], "nodeName": self.node_name}})
            return
        if proc is None:
            self._start(pod)
            return
        if proc.alive:
            return
        proc.kill_all()  # the container ends with its main process: nothing it started outlives it
        code = proc.exit_code
        restart = spec.get("restartPolicy", "Always")
        if restart == "Always" or (restart == "OnFailure" and code != 0):
            last = {"terminated": podstatus.terminated_state(proc.exit_code, proc.pid, proc.started_at)}
            self._procs.pop(meta["uid"])
            self._start(pod, restart_count=proc.restart_count + 1, last_state=last)
            return
        self._write_status(pod, self._terminated_status(pod, proc))

    def _begin_termination(self, proc: processes.PodProcess, grace: float) -> None:
        """A runtime's stop: SIGTERM to the main process only (it must stop its children), or, with
        no grace, SIGKILL to every process of the container."""
        if proc.term_sent_at is None:
            proc.term_sent_at = time.monotonic()
            proc.kill_at = proc.term_sent_at + grace
            if grace > 0:
                proc.signal_main(signal.SIGTERM)
            else:
                proc.kill_all()

    def _advance_termination(self, proc: processes.PodProcess) -> bool:
        """SIGKILL to the whole group once the grace period is over or the main process has exited
        (its leftover children die with the container); True while the main process is alive."""
        if not proc.alive:
            proc.kill_all()
            return False
        if proc.kill_at is not None and time.monotonic() >= proc.kill_at:
            proc.kill_all()
        return True

    def _lookup(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.api.get("v1", kind, name, namespace)

    def _start(self, pod: Obj, restart_count: int = 0, last_state: Obj | None = None) -> None:
        meta = pod["metadata"]
        container = pod["spec"]["containers"][0]
        pod_dir = self.workdir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"
        pod_dir.mkdir(parents=True, exist_ok=True)
        try:
            mounts = volumes.mounts(pod, container, pod_dir, self.workdir, self.volume_paths, self._lookup)
            env = dict(self._base_env)
            account = pod["spec"].get("serviceAccountName") or "default"
            kubeconfig = self.api.kubeconfig_for(meta["namespace"], account)
            env.update({"KUBECONFIG": str(kubeconfig), "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                        "KUBERNETES_SERVICE_PORT": str(self.api.port),
                        "HOSTNAME": pod["spec"].get("hostname") or meta["name"]})
            env.update(self.extra_env)
            container_env = podenv.resolve_env(pod, container, self._lookup)
            env.update({k: podenv.rewrite_paths(v, mounts) for k, v in container_env.items()})
            argv = list(container.get("command") or self.image_commands.get(container.get("image"), []))
            argv += list(container.get("args") or [])
            if not argv:
                raise podenv.PodStartError(f"no command for image {container.get('image')!r}: give it in the pod "
                                           "or map the image in FakeKubelet(image_commands=...)")
            argv = [podenv.rewrite_paths(podenv.expand(a, container_env), mounts) for a in argv]
            executable = self.executables.get(argv[0]) or shutil.which(argv[0], path=env["PATH"]) or argv[0]
            workdir = self._working_dir(container.get("workingDir"), mounts, pod_dir)
            log_path = self.log_path(meta["namespace"], meta["name"])
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("ab") as log:
                popen = subprocess.Popen([executable] + argv[1:], cwd=workdir, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        except podenv.PodStartError as error:
            if error.retry:
                self._write_status(pod, podstatus.waiting(pod, "ContainerCreating", str(error)))
            else:
                self._write_status(pod, podstatus.start_error(pod, str(error)))
            return
        except OSError as error:
            self._write_status(pod, podstatus.start_error(pod, f"failed to start {argv[0]!r}: {error}"))
            return
        proc = processes.PodProcess(meta["namespace"], meta["name"], meta["uid"], container["name"], popen, log_path,
                          now_rfc3339(), restart_count, last_state)
        self._procs[meta["uid"]] = proc
        self._write_status(pod, podstatus.running(pod, proc.pid, proc.started_at, restart_count, last_state))

    @staticmethod
    def _working_dir(working_dir: str | None, mounts: list[tuple[str, Path]], pod_dir: Path) -> str:
        """The host folder for the container's workingDir: under its mount, else in the pod's own
        "rootfs" folder (created, as the container runtime creates a missing workingDir)."""
        if not working_dir:
            return str(pod_dir)
        host = podenv.rewrite_paths(working_dir, mounts)
        path = Path(host) if host != working_dir else pod_dir / "rootfs" / working_dir.lstrip("/")
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    # --- pod status ----------------------------------------------------------------------------

    def _write_status(self, pod: Obj, status: Obj) -> None:
        meta = pod["metadata"]
        if podstatus.timeless(status) == podstatus.timeless(pod.get("status") or {}):
            return
        def merged(current: Obj) -> Obj:
            return {**current, "status": podstatus.with_current_extra_conditions(status, current.get("status"))}

        self.api.store.update(self.api.rtype("v1", "pods"), meta["namespace"], meta["name"], merged,
                              subresource="status")

    def _terminated_status(self, pod: Obj, proc: processes.PodProcess | None) -> Obj:
        if proc is None:
            return podstatus.never_started(pod, "pod deleted before its container started")
        state = podstatus.terminated_state(proc.exit_code, proc.pid, proc.started_at)
        return podstatus.terminated(pod, state, proc.restart_count, proc.pid, proc.last_state)


def _without_tracking_finalizer(pod: Obj) -> Obj:
    finalizers = [f for f in pod["metadata"].get("finalizers") or [] if f != jobcontroller.TRACKING_FINALIZER]
    return {**pod, "metadata": {**pod["metadata"], "finalizers": finalizers}}
