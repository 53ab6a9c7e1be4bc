"""`StandinKubelet`: the pod lifecycle of a kubelet, for pods bound to one Node.

What it does as a real kubelet does: registers a Ready Node (CPU, memory, pods, optionally
`nvidia.com/gpu`) and renews its Lease; lists and watches the pods bound to it; prepares volumes
(PVC -> PV hostPath/local, emptyDir, ConfigMap, Secret, projected ServiceAccount token from the
TokenRequest API with the cluster CA and namespace); resolves env (values, `$(VAR)`, fieldRef,
resourceFieldRef, ConfigMap/Secret refs); runs init containers in order, then the first app
container, each in its own mount and PID namespaces and cgroup (runtime.py); reports
Pending (ContainerCreating, CreateContainerConfigError, ErrImagePull/ImagePullBackOff) ->
Running -> Succeeded/Failed with exit codes through `pods/status`; restarts by restartPolicy with
back-off; on graceful deletion sends SIGTERM to the main process, SIGKILL after the grace period,
writes the final status and deletes the pod with grace 0.

What it does not: images (an image name maps to an `Image`: entrypoint, PATH and env on this
machine; an unknown image fails to pull), networking (pods share the host's), runAsUser/fsGroup
and read-only root filesystems (processes run as the kubelet's user), probes, sidecars.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realkube.kubelet import logserver, node, podenv, podstatus, runtime, volumes
from realkube.kubelet.podenv import PodStartError
from realkube.pki import Pki
from realkube.rest import ApiError, Client

Obj = dict[str, Any]


@dataclass
class Image:
    """What an image name means on this machine."""

    entrypoint: list[str]
    path: str
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"


@dataclass
class PodRun:
    namespace: str
    name: str
    uid: str
    dir: Path
    init_index: int = 0
    container: runtime.Container | None = None
    restart_count: int = 0
    last_state: Obj | None = None
    backoff_until: float = 0.0
    pull_attempts: int = 0
    terminal: bool = False
    deleted: bool = False
    written: Any = None
    folders: dict = field(default_factory=dict)


class StandinKubelet:
    def __init__(
        self,
        pki: Pki,
        server: str,
        name: str,
        workdir: Path,
        api_port: int,
        *,
        images: dict[str, Image] | None = None,
        cpu: str = "16",
        memory: str = "64Gi",
        gpus: int = 0,
        log: Callable[[str], None] = lambda message: None,
    ):
        self.name = name
        self.workdir = workdir.resolve()
        self.api_port = api_port
        self.images: dict[str, Image] = dict(images or {})
        self.grace_cap_seconds: float | None = None
        self.hold: set[str] = set()  # pods whose name starts with one of these stay Pending (ContainerCreating)
        self.restart_backoff_seconds = 10.0
        self.capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
        if gpus:
            self.capacity["nvidia.com/gpu"] = str(gpus)
        self.errors: list[str] = []
        self.log = log
        self.admin: Client | None = None  # for test hooks that act as a cluster user (eviction)
        identity = pki.issue(f"kubelet-{name}", f"system:node:{name}", "system:nodes")
        serving = pki.issue(f"kubelet-serving-{name}", f"system:node:{name}", "system:nodes", server=True)
        self.kubeconfig_path = self.workdir / "kubelet.kubeconfig"
        self.workdir.mkdir(parents=True, exist_ok=True)
        import yaml
        from realkube.controlplane import kubeconfig

        self.kubeconfig_path.write_text(
            yaml.safe_dump(
                kubeconfig(server, pki.ca.cert, user=f"system:node:{name}", cert=identity.cert, key=identity.key)
            )
        )
        self.api = Client(str(self.kubeconfig_path), user_agent=f"kubelet/v1.36.3 (pjob-standin) {name}")
        self.logs = logserver.LogServer(self._find_log, serving.cert, serving.key, pki.ca.cert)
        self.pods: dict[str, Obj] = {}
        self.runs: dict[str, PodRun] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> StandinKubelet:
        self.logs.start()
        node.register(self.api, self.name, self.capacity, self.logs.port)
        for target, label in ((self._watch_loop, "watch"), (self._sync_loop, "sync"), (self._beat_loop, "lease")):
            thread = threading.Thread(target=self._guard(target), name=f"kubelet-{label}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for run in list(self.runs.values()):
            if run.container is not None and run.container.alive:
                run.container.kill()
        for run in list(self.runs.values()):
            if run.container is not None:
                try:
                    run.container.popen.wait(timeout=10)
                except Exception:
                    pass
                runtime.remove_cgroup(run.uid)
        for thread in self._threads:
            thread.join(timeout=5)
        self.logs.stop()

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    target()
                    return
                except Exception as error:
                    import traceback

                    self.errors.append(f"{target.__name__}: {error}\n{traceback.format_exc()}")
                    time.sleep(1)

        return run

    # --- test hooks ------------------------------------------------------------------------------------------
    def run_of(self, namespace: str, name: str) -> PodRun | None:
        return next((r for r in list(self.runs.values()) if (r.namespace, r.name) == (namespace, name)), None)

    def pod_process(self, namespace: str, name: str) -> runtime.Container | None:
        run = self.run_of(namespace, name)
        return run.container if run else None

    def processes(self) -> list[runtime.Container]:
        """The running containers (`.pod_name`, `.name`, `.pid`, `.alive`, `.exit_code`)."""
        return [r.container for r in list(self.runs.values()) if r.container is not None and r.container.alive]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, message: str = "a condition") -> Any:
        from realkube.harness import wait_for

        return wait_for(predicate, timeout, message)

    def wait_job(self, namespace: str, name: str, timeout: float = 90.0) -> Obj:
        """The Job once the (real) Job controller has marked it Complete or Failed."""

        def finished() -> Obj | None:
            job = self.admin.get("batch/v1", "jobs", name, namespace)
            done = any(
                c["type"] in ("Complete", "Failed") and c["status"] == "True"
                for c in ((job or {}).get("status") or {}).get("conditions") or []
            )
            return job if done else None

        return self.wait_for(finished, timeout, f"job {namespace}/{name} to finish")

    def kill_pod(self, namespace: str, name: str, sig: int = signal.SIGKILL) -> None:
        """`sig` (default: kill -9) to the container's main process; when it dies, its whole PID
        namespace dies with it."""
        container = self.pod_process(namespace, name)
        assert container is not None, f"no container of pod {namespace}/{name} on this node"
        container.signal_main(sig)

    def preempt_pod(self, namespace: str, name: str) -> None:
        """Evict the pod through the Eviction API (as a drain or preemption does): the API server adds
        the DisruptionTarget condition and deletes the pod gracefully; this node then stops it."""
        assert self.admin is not None, "preempt_pod needs the admin client (set by the harness)"
        self.admin.request(
            "POST",
            self.admin.resource_path("v1", "pods", namespace, name, "eviction"),
            {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}},
        )

    def log_path(self, namespace: str, name: str) -> Path | None:
        run = self.run_of(namespace, name)
        return run.container.log_path if run and run.container else None

    def _find_log(self, namespace: str, pod: str, container: str):
        run = self.run_of(namespace, pod)
        if run is None:
            return None
        path = run.dir / container / f"{container}.log"
        current = run.container
        return path, (lambda: current is not None and current.alive)

    # --- loops -----------------------------------------------------------------------------------------------
    def _beat_loop(self) -> None:
        while not self._stop.wait(0 if not self._threads else 10):
            try:
                node.heartbeat(self.api, self.name)
            except (ApiError, OSError) as error:
                self.log(f"lease renewal failed: {error}")

    def _watch_loop(self) -> None:
        selector = {"fieldSelector": f"spec.nodeName={self.name}"}
        path = self.api.resource_path("v1", "pods")
        while not self._stop.is_set():
            listing = self.api.request("GET", path, params=selector)
            seen = {p["metadata"]["uid"]: p for p in listing["items"]}
            for uid in list(self.pods):
                if uid not in seen:
                    self.pods.pop(uid, None)
            self.pods.update(seen)
            version = listing["metadata"]["resourceVersion"]
            try:
                for event in self.api.watch(
                    path, dict(selector, resourceVersion=version, allowWatchBookmarks="true"), timeout=60
                ):
                    if self._stop.is_set():
                        return
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        break
                    if event["type"] == "BOOKMARK":
                        continue
                    uid = obj["metadata"]["uid"]
                    if event["type"] == "DELETED":
                        self.pods.pop(uid, None)
                    else:
                        self.pods[uid] = obj
            except (ApiError, OSError) as error:
                self.log(f"pod watch ended: {error}")
                time.sleep(0.5)

    def _sync_loop(self) -> None:
        while not self._stop.wait(0.05):
            for uid in list(self.runs):
                if uid not in self.pods:
                    self._forget(uid)
            for uid, pod in list(self.pods.items()):
                try:
                    self._sync(uid, pod)
                except ApiError as error:
                    if error.status not in (404, 409):
                        raise

    # --- one pod ---------------------------------------------------------------------------------------------
    def _forget(self, uid: str) -> None:
        run = self.runs.pop(uid)
        if run.container is not None and run.container.alive:  # deleted behind our back (force delete)
            run.container.kill()
        runtime.remove_cgroup(uid)

    def _sync(self, uid: str, pod: Obj) -> None:
        meta = pod["metadata"]
        run = self.runs.get(uid)
        if run is None:
            run = self.runs[uid] = PodRun(
                meta["namespace"],
                meta["name"],
                uid,
                self.workdir / "pods" / f"{meta['namespace']}_{meta['name']}_{uid[:8]}",
            )
        if run.deleted:
            return
        container = run.container
        if meta.get("deletionTimestamp"):
            if container is not None and container.alive:
                if container.term_sent_at is None:
                    grace = float(meta.get("deletionGracePeriodSeconds", 30))
                    if self.grace_cap_seconds is not None:
                        grace = min(grace, self.grace_cap_seconds)
                    container.term_sent_at = time.monotonic()
                    container.kill_at = container.term_sent_at + grace
                    container.signal_main(signal.SIGTERM)
                elif time.monotonic() >= (container.kill_at or 0):
                    container.kill()
                return
            if not run.terminal:
                self._write(pod, run, self._final_status(pod, run, deleted=True))
            self.api.request(
                "DELETE",
                self.api.resource_path("v1", "pods", meta["namespace"], meta["name"]),
                {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
            )
            run.deleted = True
            runtime.remove_cgroup(uid)
            return
        if run.terminal:
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and container is None:
            run.terminal = True  # finished before this kubelet started
            return
        if container is None:
            if time.monotonic() >= run.backoff_until:
                self._start(pod, run)
            return
        if container.alive:
            if not container.extra.get("reported"):
                container.extra["reported"] = True
                if container.extra["init"]:
                    self._write(pod, run, self._pending(pod, run, "PodInitializing", ""))
                else:
                    self._write(
                        pod,
                        run,
                        podstatus.running(
                            pod, container.main_pid() or 0, container.started_at, run.restart_count, run.last_state
                        ),
                    )
            return
        self._exited(pod, run, container)

    def _exited(self, pod: Obj, run: PodRun, container: runtime.Container) -> None:
        code = container.exit_code or 0
        error = container.start_error
        state = podstatus.terminated_state(code, container.main_pid(0) or 0, container.started_at)
        if error:
            state.update(exitCode=128, reason="StartError", message=error)
            code = 128
        policy = pod["spec"].get("restartPolicy", "Always")
        if container.extra["init"] and code == 0:
            run.init_index += 1
            run.container = None
            self._start(pod, run)
            return
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            run.restart_count += 1
            run.last_state = {"terminated": state}
            run.container = None
            run.backoff_until = time.monotonic() + min(self.restart_backoff_seconds * 2 ** (run.restart_count - 1), 300)
            self._write(
                pod,
                run,
                self._pending(pod, run, "CrashLoopBackOff", f"back-off restarting failed container {container.name}"),
            )
            return
        run.terminal = True
        self._write(pod, run, podstatus.terminated(pod, state, run.restart_count, 0, run.last_state))
        runtime.remove_cgroup(run.uid)

    def _final_status(self, pod: Obj, run: PodRun, deleted: bool) -> Obj:
        container = run.container
        if container is None:
            return podstatus.never_started(pod, "the pod was deleted before its container started")
        state = podstatus.terminated_state(container.exit_code or 0, 0, container.started_at)
        return podstatus.terminated(pod, state, run.restart_count, 0, run.last_state)

    def _pending(self, pod: Obj, run: PodRun, reason: str, message: str) -> Obj:
        status = podstatus.waiting(pod, reason, message)
        status["containerStatuses"][0].update(restartCount=run.restart_count, lastState=run.last_state or {})
        return status

    def _start(self, pod: Obj, run: PodRun) -> None:
        spec = pod["spec"]
        if any(run.name.startswith(prefix) for prefix in list(self.hold)):
            run.backoff_until = time.monotonic() + 0.5
            self._write(pod, run, self._pending(pod, run, "ContainerCreating", "held by the test (kubelet.hold)"))
            return
        inits = spec.get("initContainers") or []
        is_init = run.init_index < len(inits)
        container = inits[run.init_index] if is_init else spec["containers"][0]
        image = self.images.get(container.get("image", ""))
        if image is None:
            run.pull_attempts += 1
            reason = "ErrImagePull" if run.pull_attempts == 1 else "ImagePullBackOff"
            run.backoff_until = time.monotonic() + 2
            self._write(
                pod,
                run,
                self._pending(
                    pod,
                    run,
                    reason,
                    f'Back-off pulling image "{container.get("image")}": the image is not known to this node'
                    if reason == "ImagePullBackOff"
                    else f'failed to pull image "{container.get("image")}": not found',
                ),
            )
            return
        try:
            if not run.folders:
                run.folders = volumes.host_folders(self.api, pod, run.dir)
            mounts = volumes.mounts_for(container, run.folders)
            env = self._env(pod, container, image)
        except PodStartError as error:
            reason = "ContainerCreating" if error.retry else "CreateContainerConfigError"
            if "not found" in str(error) and "volume" not in str(error):
                reason = "CreateContainerConfigError"
            run.backoff_until = time.monotonic() + 1
            run.folders = {}
            self._write(pod, run, self._pending(pod, run, reason, str(error)))
            return
        command = container.get("command") or image.entrypoint
        args = container.get("args") if container.get("args") is not None else ([] if container.get("command") else [])
        argv = [podenv.expand(str(part), env) for part in [*command, *args]]
        limits = (container.get("resources") or {}).get("limits") or {}
        cgroups = runtime.make_cgroup(run.uid, limits) if limits else []
        started = runtime.Container.start(
            container["name"],
            run.name,
            run.dir / container["name"],
            argv,
            env,
            container.get("workingDir") or image.workdir,
            mounts,
            cgroups,
            podstatus.now_rfc3339(),
        )
        started.extra["init"] = is_init
        run.container = started

    def _env(self, pod: Obj, container: Obj, image: Image) -> dict[str, str]:
        def lookup(kind: str, namespace: str, name: str) -> Obj | None:
            return self.api.get("v1", kind, name, namespace)

        env = {
            "PATH": image.path,
            "HOSTNAME": pod["spec"].get("hostname") or pod["metadata"]["name"],
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.api_port),
            "KUBERNETES_PORT": f"tcp://127.0.0.1:{self.api_port}",
            **image.env,
        }
        env.update(podenv.resolve_env(pod, container, lookup))
        return env

    def _write(self, pod: Obj, run: PodRun, status: Obj) -> None:
        key = podstatus.timeless(status)
        if key == run.written:
            return
        meta = pod["metadata"]
        self.api.patch(
            "v1", "pods", meta["name"], {"status": status}, meta["namespace"], subresource="status", kind="strategic"
        )
        run.written = key
