"""A real Kubernetes cluster for the e2e tests: kind + the pjob image + the
Helm chart, driven through the docker, kind and helm command lines, and the
official kubernetes client for reads. Used by tests/e2e/conftest.py.

Settings (environment):
  PJOB_E2E_CLUSTER        kind cluster name (default pjob-e2e); reused when it exists
  PJOB_E2E_KEEP_CLUSTER   1: leave the cluster running afterwards (default: delete it if we created it)
  PJOB_E2E_IMAGE          image name:tag to build and load (default pjob:e2e)
  PJOB_E2E_SKIP_BUILD     1: do not docker build (the image exists locally already)
  PJOB_E2E_NAMESPACE      release and job namespace (default pjob-e2e)
  PJOB_E2E_TIMEOUT        seconds one example may take (default 900)
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOLS = ("docker", "kind", "helm")


def e2e_values(image: str) -> dict[str, Any]:
    """Chart values for kind (also rendered by tests/unit/deploy, so they are
    checked against values.schema.json without a cluster)."""
    repo, _, tag = image.rpartition(":")
    return {
        "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},  # loaded with `kind load`
        # kind is one node with a ReadWriteOnce local-path StorageClass: every pod
        # shares that node, so RWO is enough here (real clusters keep RWX).
        "datastore": {"pvc": {"accessModes": ["ReadWriteOnce"], "size": "2Gi"}},
        # CI runners have 2 cores: small requests so several workers fit.
        "worker": {"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}},
        "operator": {"resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}}},
    }


def reader_pod(name: str, image: str, subdir: str, name_filter: str) -> dict[str, Any]:
    """A locked-down pod (Pod Security restricted) that prints, base64-encoded,
    the files under <datastore>/<subdir> matching ``name_filter``."""
    script = (
        f"cd /mnt/pjob/{subdir} && find . -type f -path './{name_filter}' | sort | "
        'while read f; do echo "=== $f"; base64 -w0 "$f"; echo; done'
    )
    lock = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "read",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", script],
                    "securityContext": lock,
                    "volumeMounts": [{"name": "datastore", "mountPath": "/mnt/pjob", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "datastore", "persistentVolumeClaim": {"claimName": "pjob-datastore"}}],
        },
    }


def missing_tools() -> list[str]:
    """Why a real cluster cannot be had here ([] when it can)."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return [f"{t} not on PATH" for t in missing]
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        return ["docker daemon not reachable (docker info failed)"]
    return []


def sh(
    *cmd: str, timeout: float = 900, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


@dataclasses.dataclass
class Cluster:
    name: str
    kubeconfig: pathlib.Path
    namespace: str
    image: str
    timeout: float
    created: bool = False

    # ---- lifecycle --------------------------------------------------------

    @classmethod
    def from_env(cls, workdir: pathlib.Path) -> Cluster:
        return cls(
            name=os.environ.get("PJOB_E2E_CLUSTER", "pjob-e2e"),
            kubeconfig=workdir / "kubeconfig",
            namespace=os.environ.get("PJOB_E2E_NAMESPACE", "pjob-e2e"),
            image=os.environ.get("PJOB_E2E_IMAGE", "pjob:e2e"),
            timeout=float(os.environ.get("PJOB_E2E_TIMEOUT", "900")),
        )

    def up(self) -> None:
        existing = sh("kind", "get", "clusters").stdout.split()
        if self.name not in existing:
            sh("kind", "create", "cluster", "--name", self.name, "--wait", "180s", timeout=600)
            self.created = True
        self.kubeconfig.write_text(sh("kind", "get", "kubeconfig", "--name", self.name).stdout)
        if os.environ.get("PJOB_E2E_SKIP_BUILD") != "1":
            sh("docker", "build", "-f", "worker_image/Dockerfile", "-t", self.image, str(REPO), timeout=1800)
        sh("kind", "load", "docker-image", self.image, "--name", self.name, timeout=600)
        self.restricted_namespace()
        self.helm_install()

    def down(self) -> None:
        if self.created and os.environ.get("PJOB_E2E_KEEP_CLUSTER") != "1":
            sh("kind", "delete", "cluster", "--name", self.name, check=False, timeout=300)

    def restricted_namespace(self) -> None:
        """The release/job namespace enforces Pod Security "restricted": the
        operator, worker and reader pods must all be admitted under it."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        labels = {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        }
        core = client.CoreV1Api(self.api())
        try:
            core.create_namespace(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace, "labels": labels}}
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            core.patch_namespace(self.namespace, {"metadata": {"labels": labels}})

    def helm_install(self) -> None:
        values = self.kubeconfig.parent / "values-e2e.yaml"
        values.write_text(json.dumps(e2e_values(self.image)))  # JSON is YAML
        sh(
            "helm",
            "upgrade",
            "--install",
            "pjob",
            str(REPO / "helm" / "pjob"),
            "--kubeconfig",
            str(self.kubeconfig),
            "--namespace",
            self.namespace,
            "--create-namespace",
            "--values",
            str(values),
            "--wait",
            "--timeout",
            "5m",
            timeout=420,
        )

    # ---- clients ----------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def api(self):
        from kubernetes import client, config

        return client.ApiClient(configuration=_config(config, self.kubeconfig))

    def pjob(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        """Run the pjob CLI against this cluster, as a user would."""
        return sh(sys.executable, "-m", "pjob.cli", *args, timeout=timeout, env=self.env(), check=check)

    # ---- reads ------------------------------------------------------------

    def custom_resources(self) -> dict[tuple[str, str], dict[str, Any]]:
        from kubernetes import client

        api = client.CustomObjectsApi(self.api())
        found = {}
        for plural in ("paralleljobs", "pipelinejobs"):
            for item in api.list_namespaced_custom_object("pjob.dev", "v1alpha1", self.namespace, plural)["items"]:
                found[(plural, item["metadata"]["name"])] = item
        return found

    def wait_terminal(self, plural: str, name: str) -> dict[str, Any]:
        """The CR once its Succeeded or Failed condition is True (or timeout)."""
        from kubernetes import client

        api = client.CustomObjectsApi(self.api())
        deadline = time.monotonic() + self.timeout
        while True:
            obj = api.get_namespaced_custom_object("pjob.dev", "v1alpha1", self.namespace, plural, name)
            conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
            if any(conditions.get(t, {}).get("status") == "True" for t in ("Succeeded", "Failed")):
                return obj
            if conditions.get("SpecValid", {}).get("status") == "False":
                return obj
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{plural}/{name} not finished after {self.timeout:.0f}s: {json.dumps(obj.get('status'), indent=1)}"
                )
            self.pjob("status", name, "-n", self.namespace, check=False, timeout=60)  # exercised while running
            time.sleep(5)

    def read_datastore_files(self, subdir: str, name_filter: str = "*/outputs/*") -> dict[str, bytes]:
        """Files under <datastore>/<subdir> whose path matches ``name_filter``,
        read by a short-lived, locked-down pod that mounts the datastore claim."""
        from kubernetes import client

        core = client.CoreV1Api(self.api())
        pod_name = f"pjob-e2e-reader-{int(time.time() * 1000) % 10**9}"
        pod = reader_pod(pod_name, self.image, subdir, name_filter)
        core.create_namespaced_pod(self.namespace, pod)
        try:
            deadline = time.monotonic() + 180
            while core.read_namespaced_pod(pod_name, self.namespace).status.phase not in ("Succeeded", "Failed"):
                if time.monotonic() > deadline:
                    raise AssertionError(f"reader pod {pod_name} did not finish")
                time.sleep(2)
            text = core.read_namespaced_pod_log(pod_name, self.namespace)
        finally:
            core.delete_namespaced_pod(pod_name, self.namespace)
        files: dict[str, bytes] = {}
        lines = text.splitlines()
        for header, body in zip(lines[::2], lines[1::2]):
            assert header.startswith("=== ./"), header
            files[header[len("=== ./") :]] = base64.b64decode(body)
        return files

    def diagnostics(self, name: str) -> str:
        status = self.pjob("status", name, "-n", self.namespace, check=False, timeout=60)
        logs = (
            sh(
                "kubectl",
                "--kubeconfig",
                str(self.kubeconfig),
                "-n",
                self.namespace,
                "logs",
                "deployment/pjob-operator",
                "--tail=200",
                check=False,
            )
            if shutil.which("kubectl")
            else None
        )
        return (
            f"pjob status:\n{status.stdout}\n{status.stderr}\noperator log:\n{logs.stdout if logs else '(no kubectl)'}"
        )


def _config(config_module, kubeconfig: pathlib.Path):
    from kubernetes import client

    configuration = client.Configuration()
    config_module.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return configuration
