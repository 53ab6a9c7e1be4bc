"""Fixtures for the kube test tier: a fake Kubernetes API server and a fake kubelet (see fakekube/).

Fixture API (all function-scoped, torn down after each test):

- `fake_api` -> `fakekube.FakeApiServer`, started on 127.0.0.1 with a random port:
  `.url`, `.kubeconfig_path` (a kubeconfig file for `KUBECONFIG=`, cluster admin), `.client()` (a
  `kubernetes.client.ApiClient`), `.requests` / `.writes(resource=..., user_agent_contains=...)` /
  `.clear_requests()` (the request log: method, path, verb, resource, code, user agent, user),
  `.enforce_rbac = True` + `.kubeconfig_for(ns, service_account)` (opt-in RBAC for ServiceAccounts),
  `.get/.list/.apply/.apply_yaml/.ensure_namespace` (direct store access, not logged),
  `.wait_for(predicate, timeout)`, `.store.compact()` (force 410 Gone on resumed watches).
  Teardown fails the test if the fake itself crashed on a request (`.errors`, answered as 500).
- `kube_client` -> a `kubernetes.client.ApiClient` bound to `fake_api` (closed afterwards).
- `kubelet` -> `fakekube.FakeKubelet` running Jobs' pods as local processes; map volumes to host
  folders with `kubelet.volume_paths[...] = path` (keys: volume name, PVC claimName, hostPath path);
  run image-less containers with `kubelet.image_commands[image] = argv`; `kubelet.grace_cap_seconds`
  caps terminationGracePeriodSeconds (default 3 s). Hooks: `.processes()`, `.pod_process(ns, name)`,
  `.kill_pod(ns, name)` (kill -9), `.preempt_pod(ns, name)` (DisruptionTarget + graceful delete),
  `.wait_job(ns, name)`, `.wait_for(...)`, `.log_path(ns, pod)`. Teardown kills leftover processes and
  fails the test if the kubelet thread raised. Fidelity notes: fakekube/README.md.
- `apply_crds(*paths)` -> applies CRD YAML files (default: the repository's crds/*.yaml) and returns them.
- `kube_env` -> environment for subprocesses (operator, `pjob agent`, kopf): os.environ + KUBECONFIG.
- `start_process(argv, env=None, name=None)` -> `ManagedProcess` (Popen with a log file; `.log()`,
  `.stop()`); every process started this way is stopped at teardown (SIGTERM, then SIGKILL).
- `wait_for_request(predicate, timeout)` -> waits until a logged request satisfies `predicate(record)`,
  e.g. that an operator has started watching paralleljobs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fakekube  # noqa: E402
from fakekube.api import RequestRecord  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_api(tmp_path: Path) -> Iterator[fakekube.FakeApiServer]:
    server = fakekube.FakeApiServer(workdir=tmp_path / "fakekube").start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.errors, "fake API server bug (answered 500):\n" + "\n".join(server.errors)


@pytest.fixture
def kube_client(fake_api: fakekube.FakeApiServer):
    client = fake_api.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kubelet(fake_api: fakekube.FakeApiServer, tmp_path: Path) -> Iterator[fakekube.FakeKubelet]:
    node = fakekube.FakeKubelet(fake_api, workdir=tmp_path / "kubelet").start()
    try:
        yield node
    finally:
        node.stop()
    assert not node.errors, "fake kubelet thread raised:\n" + "\n".join(node.errors)


@pytest.fixture
def apply_crds(fake_api: fakekube.FakeApiServer) -> Callable[..., list[dict]]:
    def apply(*paths: str | Path) -> list[dict]:
        chosen = [Path(p) for p in paths] or sorted((REPO / "crds").glob("*.yaml"))
        return [obj for path in chosen for obj in fake_api.apply_yaml(path)]
    return apply


@pytest.fixture
def kube_env(fake_api: fakekube.FakeApiServer) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(fake_api.kubeconfig_path)}


@dataclass
class ManagedProcess:
    """A subprocess started by a test, with its combined output in `log_path`."""

    popen: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        return self.popen.returncode


@pytest.fixture
def start_process(tmp_path: Path, kube_env: dict[str, str]) -> Iterator[Callable[..., ManagedProcess]]:
    started: list[ManagedProcess] = []

    def start(argv: list[str], env: dict[str, str] | None = None, name: str | None = None,
              cwd: str | Path | None = None) -> ManagedProcess:
        log_path = tmp_path / f"{name or Path(argv[0]).name}-{len(started)}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(argv, env=env or kube_env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=cwd)
        process = ManagedProcess(popen, log_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def wait_for_request(fake_api: fakekube.FakeApiServer) -> Callable[..., RequestRecord]:
    def wait(predicate: Callable[[RequestRecord], bool], timeout: float = 20.0,
             message: str = "a matching request") -> RequestRecord:
        return fake_api.wait_for(lambda: next((r for r in fake_api.requests if predicate(r)), None),
                                 timeout=timeout, message=message)
    return wait
