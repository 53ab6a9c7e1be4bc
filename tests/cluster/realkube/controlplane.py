"""Start and stop a real Kubernetes control plane as local processes.

`ControlPlane(workdir).start()` runs, each as its own process from the one upstream binary
(build.py): etcd, kube-apiserver (Node,RBAC authorization; the default admission plugins plus
NodeRestriction, PodSecurity and OwnerReferencesPermissionEnforcement; ServiceAccount tokens
signed with a real key; an audit log of every request by a non-system user, which is the tests'
request log), kube-controller-manager (Job, garbage collector, namespace, ServiceAccount, token,
root-CA publisher, TTL-after-finished, PV binder and ClusterRole aggregation controllers; no node
lifecycle or pod GC) and kube-scheduler. It waits on /readyz and on the `default` ServiceAccount,
and writes an admin kubeconfig. `stop()` ends every process it started (also from another
process, through the pid file: `ControlPlane(workdir).stop()`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import yaml
from realkube import build
from realkube.pki import Pki

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # the control plane's own traffic is not what tests measure
        {"level": "None", "users": ["system:apiserver", "system:kube-controller-manager", "system:kube-scheduler"]},
        {"level": "None", "userGroups": ["system:nodes"]},
        {
            "level": "None",
            "users": [
                f"system:serviceaccount:kube-system:{n}"
                for n in (
                    "job-controller",
                    "generic-garbage-collector",
                    "namespace-controller",
                    "service-account-controller",
                    "root-ca-cert-publisher",
                    "ttl-after-finished-controller",
                    "persistent-volume-binder",
                    "pvc-protection-controller",
                    "pv-protection-controller",
                    "clusterrole-aggregation-controller",
                )
            ],
        },
        {"level": "None", "nonResourceURLs": ["/readyz*", "/healthz*", "/livez*"]},
        {"level": "Metadata"},
    ],
}

CONTROLLERS = [
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "ttl-after-finished-controller",
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    "clusterrole-aggregation-controller",
]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it dies, so a killed test run
    (or `make cluster`'s server) leaves no control plane behind (Linux prctl PR_SET_PDEATHSIG; not
    SIGTERM: a kube-apiserver whose etcd is gone can hang in its graceful shutdown)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kubeconfig(
    server: str,
    ca: Path,
    *,
    user: str,
    cert: Path | None = None,
    key: Path | None = None,
    token: str | None = None,
    namespace: str | None = None,
) -> dict:
    """A kubeconfig document for one user of this cluster."""
    creds: dict = {"token": token} if token else {"client-certificate": str(cert), "client-key": str(key)}
    context: dict = {"cluster": "pjob-test", "user": user}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "pjob-test",
        "clusters": [{"name": "pjob-test", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": "pjob-test", "context": context}],
    }


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler under `workdir`."""

    def __init__(self, workdir: Path, binary: Path | None = None):
        self.workdir = workdir.resolve()
        self.binary = binary
        self.logs = self.workdir / "logs"
        self.pki = self.workdir / "pki"
        self.audit_log = self.logs / "audit.log"
        self.kubeconfig_path = self.workdir / "kubeconfig"
        self.pid_file = self.workdir / "pids.json"
        self.processes: dict[str, subprocess.Popen] = {}
        self.port = 0
        self.server = ""

    # --- lifecycle -------------------------------------------------------------------------------------------
    def start(self, timeout: float = 180.0) -> ControlPlane:
        self.binary = self.binary or build.find_or_build()
        self.logs.mkdir(parents=True, exist_ok=True)
        pki = Pki(self.pki)
        serving = pki.issue("apiserver", "kube-apiserver", server=True)
        kubelet_client = pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
        admin = pki.issue("admin", "pjob-admin", "system:masters")
        kcm = pki.issue("kube-controller-manager", "system:kube-controller-manager")
        sched = pki.issue("kube-scheduler", "system:kube-scheduler")
        sa_key = pki.service_account_key()
        etcd_port, etcd_peer, self.port = free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        self.audit_log.touch()
        self._write_kubeconfig(self.kubeconfig_path, user="pjob-admin", cert=admin.cert, key=admin.key)
        kcm_config = self._write_kubeconfig(
            self.workdir / "kube-controller-manager.kubeconfig",
            user="kube-controller-manager",
            cert=kcm.cert,
            key=kcm.key,
        )
        sched_config = self._write_kubeconfig(
            self.workdir / "kube-scheduler.kubeconfig", user="kube-scheduler", cert=sched.cert, key=sched.key
        )
        try:
            self._spawn(
                "etcd",
                [
                    "--data-dir",
                    str(self.workdir / "etcd"),
                    "--listen-client-urls",
                    f"http://127.0.0.1:{etcd_port}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{etcd_peer}",
                ],
            )
            self._spawn(
                "kube-apiserver",
                [
                    f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={self.port}",
                    f"--tls-cert-file={serving.cert}",
                    f"--tls-private-key-file={serving.key}",
                    f"--client-ca-file={pki.ca.cert}",
                    "--authorization-mode=Node,RBAC",
                    "--enable-admission-plugins=NodeRestriction,PodSecurity,OwnerReferencesPermissionEnforcement",
                    f"--service-account-key-file={sa_key}",
                    f"--service-account-signing-key-file={sa_key}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    f"--kubelet-client-certificate={kubelet_client.cert}",
                    f"--kubelet-client-key={kubelet_client.key}",
                    f"--kubelet-certificate-authority={pki.ca.cert}",
                    "--kubelet-preferred-address-types=InternalIP",
                    f"--audit-policy-file={policy}",
                    f"--audit-log-path={self.audit_log}",
                    "--audit-log-format=json",
                    "--audit-log-mode=blocking",
                    "--profiling=false",
                    "--v=1",
                ],
            )
            self._wait_ready(timeout)
            self._spawn(
                "kube-controller-manager",
                [
                    f"--kubeconfig={kcm_config}",
                    f"--authentication-kubeconfig={kcm_config}",
                    f"--authorization-kubeconfig={kcm_config}",
                    "--leader-elect=false",
                    "--controllers=" + ",".join(CONTROLLERS),
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={sa_key}",
                    f"--root-ca-file={pki.ca.cert}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    "--profiling=false",
                    "--v=1",
                ],
            )
            self._spawn(
                "kube-scheduler",
                [
                    f"--kubeconfig={sched_config}",
                    f"--authentication-kubeconfig={sched_config}",
                    f"--authorization-kubeconfig={sched_config}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    "--profiling=false",
                    "--v=1",
                ],
            )
            self._wait_default_service_account(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every component (newest first), SIGKILL what is left after `grace`."""
        pids = {name: p.pid for name, p in self.processes.items()}
        if not pids and self.pid_file.exists():
            pids = json.loads(self.pid_file.read_text())
        for pid in reversed(list(pids.values())):
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for pid in pids.values():
            while _alive(pid, self.processes) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid, self.processes):
                _signal(pid, signal.SIGKILL)
        for popen in self.processes.values():
            popen.wait(timeout=grace)
        self.processes.clear()
        self.pid_file.unlink(missing_ok=True)

    # --- helpers ---------------------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [str(self.binary), name, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.pid_file.write_text(json.dumps({n: p.pid for n, p in self.processes.items()}))

    def _write_kubeconfig(self, path: Path, **user) -> Path:
        path.write_text(yaml.safe_dump(kubeconfig(self.server, self.pki / "ca.crt", **user)))
        return path

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return context

    def get_json(self, path: str, timeout: float = 5.0) -> dict:
        with urllib.request.urlopen(self.server + path, context=self.ssl_context(), timeout=timeout) as response:
            return json.loads(response.read())

    def _check_alive(self) -> None:
        for name, popen in self.processes.items():
            if popen.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {popen.returncode}:\n{tail}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(self.server + "/readyz", context=self.ssl_context(), timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"kube-apiserver not ready after {timeout:.0f} s (see {self.logs})")
            time.sleep(0.2)

    def _wait_default_service_account(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                self.get_json("/api/v1/namespaces/default/serviceaccounts/default")
                self.get_json("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no default ServiceAccount after {timeout:.0f} s (see {self.logs})") from None
                time.sleep(0.2)


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int, processes: dict[str, subprocess.Popen]) -> bool:
    for popen in processes.values():
        if popen.pid == pid:
            return popen.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
