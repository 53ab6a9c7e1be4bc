"""One real cluster for a test session (or for `make cluster`), and a per-test view of it.

`Cluster.start(workdir)`: the control plane (controlplane.py), one stand-in kubelet Node, the
CRDs from crds/, the Helm chart's RBAC rendered with its defaults (ServiceAccount, ClusterRole,
bindings in `pjob-system`), and a kubeconfig holding a real token of the chart's operator
ServiceAccount (TokenRequest API), so the operator is held to exactly the chart's RBAC.

`cluster.for_test()` -> `TestApi`: the `default` namespace (labelled for the `restricted` Pod
Security level), the request log (audit log) from this point on, helpers to read and write
objects as the cluster admin, and `bind_claim` (a PersistentVolume with a hostPath on this
machine, pre-bound to a claim: the datastore the pods mount). Tests run one at a time;
`close()` empties `default` again and deletes every other namespace the test made, and waits
until that is done, so each test starts on the same empty cluster.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from realkube import audit
from realkube.controlplane import ControlPlane, kubeconfig
from realkube.kubelet import Image, StandinKubelet
from realkube.rest import ApiError, Client

Obj = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
RELEASE_NAMESPACE = "pjob-system"


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, message: str = "a condition", interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def venv_image() -> Image:
    """What the worker image means on this machine: `pjob` from the running interpreter's venv."""
    import sys

    venv_bin = str(Path(sys.executable).parent)
    return Image(
        entrypoint=["pjob"],
        path=f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        env={"PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"},
    )


def chart_rbac(values: Obj | None = None, namespace: str = RELEASE_NAMESPACE) -> list[Obj]:
    """The chart's ServiceAccount and RBAC objects, rendered by Helm's Go engine with `values`."""
    import sys

    sys.path.insert(0, str(REPO / "tests" / "unit" / "deploy"))
    import chart_render

    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    objs = chart_render.objects(chart_render.render(values or {}, namespace=namespace))
    out = []
    for obj in objs:
        if obj.get("kind") in kinds:
            obj.pop("__template__", None)
            obj["metadata"].setdefault("namespace", namespace) if obj["kind"] in {
                "ServiceAccount",
                "Role",
                "RoleBinding",
            } else None
            out.append(obj)
    return out


class Cluster:
    def __init__(self, workdir: Path):
        self.workdir = workdir.resolve()
        self.plane = ControlPlane(self.workdir / "controlplane")
        self.kubelet: StandinKubelet | None = None
        self.admin: Client | None = None
        self.operator_kubeconfig = self.workdir / "operator.kubeconfig"
        self._tests = 0

    @property
    def kubeconfig_path(self) -> Path:
        return self.plane.kubeconfig_path

    def start(self, images: dict[str, Image], log: Callable[[str], None] = print) -> Cluster:
        started = time.monotonic()
        self.plane.start()
        try:
            self.admin = Client(str(self.plane.kubeconfig_path))
            from realkube.pki import Pki

            self.kubelet = StandinKubelet(
                Pki(self.plane.pki),
                self.plane.server,
                "pjob-node-0",
                self.workdir / "kubelet",
                self.plane.port,
                images=images,
                gpus=4,
            )
            self.kubelet.admin = self.admin
            self.kubelet.start()
            wait_for(lambda: self._node_ready("pjob-node-0"), 30, "the stand-in kubelet's Node to be Ready")
            # admission taints a new Node not-ready; the node-lifecycle controller (not run here: it would
            # evict pods on missed heartbeats) lifts the taint once the Node is Ready, so the harness does
            self.admin.patch(
                "v1", "nodes", "pjob-node-0", {"spec": {"taints": None}, "metadata": {"labels": {"gpu": "true"}}}
            )
            self.apply_crds()
            self.install_chart_rbac()
        except BaseException:
            self.stop()
            raise
        log(
            f"real control plane up in {time.monotonic() - started:.1f} s: {self.plane.server} "
            f"(kubeconfig {self.plane.kubeconfig_path})"
        )
        return self

    def stop(self) -> None:
        if self.kubelet is not None:
            self.kubelet.stop()
            self.kubelet = None
        self.plane.stop()

    def _node_ready(self, name: str) -> bool:
        node = self.admin.get("v1", "nodes", name)
        return bool(node) and any(
            c["type"] == "Ready" and c["status"] == "True" for c in (node.get("status") or {}).get("conditions") or []
        )

    def apply_crds(self, paths: list[Path] | None = None) -> list[Obj]:
        applied = []
        for path in paths or sorted((REPO / "crds").glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc:
                    applied.append(self.admin.apply(doc))
        for crd in applied:
            wait_for(
                lambda crd=crd: any(
                    c["type"] == "Established" and c["status"] == "True"
                    for c in (
                        self.admin.get(
                            "apiextensions.k8s.io/v1", "customresourcedefinitions", crd["metadata"]["name"]
                        ).get("status")
                        or {}
                    ).get("conditions")
                    or []
                ),
                30,
                f"CRD {crd['metadata']['name']} to be established",
            )
        return applied

    def install_chart_rbac(self) -> None:
        self.ensure_namespace(RELEASE_NAMESPACE)
        objs = chart_rbac()
        for obj in objs:
            self.admin.apply(obj)
        (account,) = [o["metadata"]["name"] for o in objs if o["kind"] == "ServiceAccount"]
        self.operator_kubeconfig.write_text(yaml.safe_dump(self.token_kubeconfig(RELEASE_NAMESPACE, account)))

    def token_kubeconfig(self, namespace: str, service_account: str, seconds: int = 86400) -> Obj:
        """A kubeconfig with a real token of `namespace/service_account` (TokenRequest API)."""
        path = self.admin.resource_path("v1", "serviceaccounts", namespace, service_account, "token")
        token = wait_for(lambda: self._token(path, seconds), 30, f"a token for {namespace}/{service_account}")
        return kubeconfig(
            self.plane.server,
            self.plane.pki / "ca.crt",
            user=f"{namespace}-{service_account}",
            token=token,
            namespace=namespace,
        )

    def _token(self, path: str, seconds: int) -> str | None:
        try:
            return self.admin.request(
                "POST",
                path,
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenRequest",
                    "spec": {"expirationSeconds": seconds},
                },
            )["status"]["token"]
        except ApiError as error:
            if error.status == 404:  # the ServiceAccount is not there yet
                return None
            raise

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> Obj:
        return self.admin.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
        )

    def for_test(self) -> TestApi:
        return TestApi(self)


class TestApi:
    """The cluster as one test sees it: its namespace, its requests, admin access to objects."""

    __test__ = False  # not a pytest class

    def __init__(self, cluster: Cluster, namespace: str = "default"):
        self.cluster = cluster
        self.namespace = namespace
        self.admin = cluster.admin
        self.kubeconfig_path = cluster.kubeconfig_path
        self.url = self.server = cluster.plane.server
        self._namespaces: list[str] = []
        self._volumes: list[str] = []
        self.ensure_namespace(namespace)
        self._offset = audit.size(cluster.plane.audit_log)

    # --- objects (as the cluster admin; not counted in `requests`) ----------------------------------------
    def _ns(self, namespace: str | None) -> str:
        return namespace or self.namespace

    def get(self, api_version: str, plural: str, name: str, namespace: str | None = None) -> Obj | None:
        cluster_scoped = plural in {
            "namespaces",
            "nodes",
            "persistentvolumes",
            "clusterroles",
            "clusterrolebindings",
            "customresourcedefinitions",
        }
        return self.admin.get(api_version, plural, name, None if cluster_scoped else self._ns(namespace))

    def list(
        self, api_version: str, plural: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[Obj]:
        params = {"labelSelector": label_selector} if label_selector else {}
        return self.admin.list(api_version, plural, self._ns(namespace), **params)

    def apply(self, obj: Obj) -> Obj:
        _, namespaced = self.admin.plural_of(obj["apiVersion"], obj["kind"])
        return self.admin.apply(obj, self._ns(obj["metadata"].get("namespace")) if namespaced else None)

    def apply_yaml(self, path: Path) -> list[Obj]:
        return [self.apply(doc) for doc in yaml.safe_load_all(Path(path).read_text()) if doc]

    def ensure_namespace(self, name: str, restricted: bool = True) -> Obj:
        labels = {"pod-security.kubernetes.io/enforce": "restricted"} if restricted else {}
        if name != self.namespace and name not in self._namespaces and name not in SYSTEM_NAMESPACES:
            self._namespaces.append(name)
        return self.cluster.ensure_namespace(name, labels)

    def client(self):
        """A `kubernetes.client.ApiClient` as the cluster admin."""
        import kubernetes

        return kubernetes.config.new_client_from_config(str(self.kubeconfig_path))

    def kubectl(self, *args: str, kubeconfig: Path | None = None) -> str:
        """The real kubectl (a subcommand of the control-plane binary) as the cluster admin; its stdout."""
        import subprocess

        done = subprocess.run(
            [
                str(self.cluster.plane.binary),
                "kubectl",
                "--kubeconfig",
                str(kubeconfig or self.kubeconfig_path),
                "-n",
                self.namespace,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def kubeconfig_for(self, namespace: str, service_account: str) -> Path:
        """A kubeconfig file with a real token of a ServiceAccount (created when missing)."""
        self.ensure_namespace(namespace)
        self.admin.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": service_account, "namespace": namespace},
            }
        )
        path = self.cluster.workdir / f"kubeconfig-{namespace}-{service_account}"
        path.write_text(yaml.safe_dump(self.cluster.token_kubeconfig(namespace, service_account)))
        return path

    def bind_claim(self, claim: str, host_path: Path, namespace: str | None = None) -> None:
        """A hostPath PersistentVolume pre-bound to claim `claim` (ReadWriteMany) in the namespace."""
        ns = self._ns(namespace)
        pv_name = f"{ns}-{claim}"[:63]
        Path(host_path).mkdir(parents=True, exist_ok=True)
        self.admin.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv_name},
                "spec": {
                    "capacity": {"storage": "10Gi"},
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": str(host_path), "type": "Directory"},
                    "claimRef": {"namespace": ns, "name": claim},
                },
            }
        )
        self.admin.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": ns},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": pv_name,
                    "resources": {"requests": {"storage": "10Gi"}},
                },
            }
        )
        self._volumes.append(pv_name)
        self.wait_for(
            lambda: (
                (self.admin.get("v1", "persistentvolumeclaims", claim, ns) or {}).get("status", {}).get("phase")
                == "Bound"
            ),
            30,
            f"claim {ns}/{claim} to be bound",
        )

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 30.0, message: str = "a condition", interval: float = 0.1
    ) -> Any:
        return wait_for(predicate, timeout, message, interval)

    # --- the request log (audit) --------------------------------------------------------------------------
    @property
    def requests(self) -> list[audit.RequestRecord]:
        return audit.read(self.cluster.plane.audit_log, self._offset)

    def clear_requests(self) -> None:
        self._offset = audit.size(self.cluster.plane.audit_log)

    def writes(self, resource: str | None = None, user_agent_contains: str | None = None) -> list[audit.RequestRecord]:
        return [
            r
            for r in self.requests
            if r.is_write
            and (resource is None or r.resource == resource)
            and (user_agent_contains is None or user_agent_contains in r.user_agent)
        ]

    # --- teardown ---------------------------------------------------------------------------------------------
    def close(self, timeout: float = 90.0) -> None:
        """Empty the test's namespace, delete the others it made and its volumes; wait until done."""
        for ns in [self.namespace, *self._namespaces]:
            self._empty(ns)
        for ns in self._namespaces:
            self.admin.delete("v1", "namespaces", ns)
        for pv in self._volumes:
            self.admin.delete("v1", "persistentvolumes", pv)
        self.wait_for(
            lambda: (
                all(self._is_empty(ns) for ns in [self.namespace])
                and not any(self.admin.get("v1", "namespaces", ns) for ns in self._namespaces)
                and not any(self.admin.get("v1", "persistentvolumes", pv) for pv in self._volumes)
            ),
            timeout,
            f"namespace {self.namespace} to be empty and {self._namespaces + self._volumes} gone",
        )
        self._namespaces.clear()
        self._volumes.clear()

    def _empty(self, ns: str) -> None:
        if self.admin.get("v1", "namespaces", ns) is None:
            return
        for plural in ("paralleljobs", "pipelinejobs"):  # no operator runs any more: drop its finalizers
            for obj in self.admin.list("pjob.dev/v1alpha1", plural, ns):
                if obj["metadata"].get("finalizers"):
                    self._ignore_gone(
                        functools.partial(
                            self.admin.patch,
                            "pjob.dev/v1alpha1",
                            plural,
                            obj["metadata"]["name"],
                            {"metadata": {"finalizers": None}},
                            ns,
                        )
                    )
        for api_version, plural, options in CLEANUP:
            path = self.admin.resource_path(api_version, plural, ns)
            self._ignore_gone(
                functools.partial(
                    self.admin.request, "DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1", **options}
                )
            )

    def _is_empty(self, ns: str) -> bool:
        for api_version, plural, _ in CLEANUP:
            if plural in ("serviceaccounts", "configmaps", "events"):
                continue
            if self.admin.list(api_version, plural, ns):
                return False
        return not [sa for sa in self.admin.list("v1", "serviceaccounts", ns) if sa["metadata"]["name"] != "default"]

    @staticmethod
    def _ignore_gone(call: Callable[[], Any]) -> None:
        try:
            call()
        except ApiError as error:
            if error.status not in (404, 405, 409):
                raise


SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease", RELEASE_NAMESPACE}
# what a test can leave in a namespace; pods go at once (grace 0: the node kills their processes)
CLEANUP = [
    ("pjob.dev/v1alpha1", "paralleljobs", {}),
    ("pjob.dev/v1alpha1", "pipelinejobs", {}),
    ("batch/v1", "jobs", {"propagationPolicy": "Background"}),
    ("v1", "pods", {"gracePeriodSeconds": 0}),
    ("v1", "configmaps", {}),
    ("v1", "secrets", {}),
    ("coordination.k8s.io/v1", "leases", {}),
    ("rbac.authorization.k8s.io/v1", "roles", {}),
    ("rbac.authorization.k8s.io/v1", "rolebindings", {}),
    ("v1", "persistentvolumeclaims", {}),
    ("v1", "events", {}),
    ("v1", "serviceaccounts", {}),
]
