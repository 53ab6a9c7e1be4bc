"""pytest fixtures for the real control plane, shared by every test folder (tests/conftest.py
imports them): one cluster for the whole session, started on first use.

kube-apiserver, etcd, kube-controller-manager and kube-scheduler built from upstream modules
(tests/cluster/controlplane, cached in .cache/controlplane) run as local processes, with one
stand-in kubelet Node that runs pods as local processes in their own mount and PID namespaces
(tests/cluster/realkube). Where Go is missing (or this machine cannot make mount namespaces), the
whole tier is skipped with one line.

Fixture API:
- `kube_api` -> `realkube.harness.TestApi` for this test: `.namespace` (a fresh namespace
  labelled for the restricted Pod Security level, deleted at teardown), `.get/.list/.apply/
  .apply_yaml/.ensure_namespace` (as the cluster admin), `.client()` (a `kubernetes` ApiClient),
  `.kubeconfig_path` (admin), `.kubeconfig_for(ns, sa)` (a real ServiceAccount token),
  `.bind_claim(claim, folder)` (a hostPath PV pre-bound to a claim), `.wait_for(predicate, timeout,
  message)`, `.requests` / `.writes(...)` / `.clear_requests()` (the API server's audit log since
  the test started: verb, group, resource, subresource, namespace, code, user, user agent).
- `kubelet` -> the session's `StandinKubelet`: `.images[name] = Image(...)`, `.kill_pod(ns, pod[, sig])`,
  `.preempt_pod(ns, pod)` (Eviction API), `.pod_process(ns, pod)`, `.processes()`, `.log_path(ns, pod)`,
  `.grace_cap_seconds`, `.hold` (pod name prefixes left Pending) (both reset after each test). Teardown fails the test if a kubelet thread raised.
- `apply_crds(*paths)` -> (re)applies CRD files (default: crds/*.yaml) and waits until established;
  the session starts with them applied; `without_crds` deletes them for one test.
- `kube_env` -> os.environ + KUBECONFIG of the cluster admin (what a user's `pjob submit` uses).
- `operator_kubeconfig` -> a kubeconfig holding a token of the Helm chart's operator ServiceAccount,
  bound by the chart's own ClusterRole (rendered with default values).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from realkube import build
from realkube.harness import Cluster, TestApi, venv_image

TEST_IMAGE = "pjob-test:dev"
_RAN_ON_REAL: list[str] = []


def _unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "the stand-in kubelet needs root for mount and PID namespaces"
    try:
        build.find_or_build(log=lambda message: print(message, file=sys.stderr))
    except build.Unavailable as error:
        return str(error)
    return None


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory) -> Iterator[Cluster]:
    reason = _unavailable_reason()
    if reason and os.environ.get("PJOB_REQUIRE_CLUSTER"):
        pytest.fail(f"PJOB_REQUIRE_CLUSTER is set but the real control plane cannot run: {reason}")
    if reason:
        pytest.skip(f"Kubernetes tier skipped: {reason}")
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    python = venv_image()
    python.entrypoint = ["python"]
    cluster.start(
        {TEST_IMAGE: venv_image(), "pjob-bench": venv_image(), "python:3": python},
        log=lambda message: print(message, file=sys.stderr),
    )
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kube_api(real_cluster: Cluster, request) -> Iterator[TestApi]:
    api = real_cluster.for_test()
    _RAN_ON_REAL.append(request.node.nodeid)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def kube_client(kube_api: TestApi):
    client = kube_api.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kubelet(real_cluster: Cluster, kube_api: TestApi):
    node = real_cluster.kubelet
    node.errors.clear()
    yield node
    node.grace_cap_seconds = None
    node.hold.clear()
    errors = list(node.errors)
    # pods of this test stop with its namespace; wait so the next test starts on a quiet machine
    kube_api.close()
    kube_api.wait_for(
        lambda: (
            not [
                r
                for r in list(node.runs.values())
                if r.namespace == kube_api.namespace and r.container is not None and r.container.alive
            ]
        ),
        timeout=60,
        message=f"the pods of namespace {kube_api.namespace} to stop",
    )
    assert not errors, "stand-in kubelet thread raised:\n" + "\n".join(errors)


@pytest.fixture
def apply_crds(real_cluster: Cluster) -> Callable[..., list[dict]]:
    def apply(*paths: str | Path) -> list[dict]:
        return real_cluster.apply_crds([Path(p) for p in paths] or None)

    return apply


@pytest.fixture
def without_crds(real_cluster: Cluster, kube_api: TestApi) -> Iterator[None]:
    """The pjob CRDs deleted for this test (a cluster where pjob is not installed), applied again after."""
    names = [crd["metadata"]["name"] for crd in real_cluster.apply_crds()]
    for name in names:
        real_cluster.admin.delete("apiextensions.k8s.io/v1", "customresourcedefinitions", name)
    kube_api.wait_for(
        lambda: (
            not any(real_cluster.admin.get("apiextensions.k8s.io/v1", "customresourcedefinitions", n) for n in names)
        ),
        60,
        "the CRDs to be deleted",
    )
    try:
        yield
    finally:
        real_cluster.apply_crds()


@pytest.fixture
def kube_env(kube_api: TestApi, real_cluster: Cluster) -> dict[str, str]:
    """A user's environment (cluster admin); operator_support.operator_env swaps in the operator's token."""
    return {
        **os.environ,
        "KUBECONFIG": str(kube_api.kubeconfig_path),
        "PJOB_TEST_OPERATOR_KUBECONFIG": str(real_cluster.operator_kubeconfig),
    }


@pytest.fixture
def operator_kubeconfig(real_cluster: Cluster) -> Path:
    return real_cluster.operator_kubeconfig


def pytest_terminal_summary(terminalreporter) -> None:
    if _RAN_ON_REAL:
        terminalreporter.write_line(
            f"{len(_RAN_ON_REAL)} tests ran on the real control plane "
            "(kube-apiserver, etcd, kube-controller-manager, kube-scheduler built from "
            "upstream modules; stand-in kubelet)"
        )
