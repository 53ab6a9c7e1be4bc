"""`FakeApiServer`: the fake Kubernetes API server over real HTTP on 127.0.0.1.

Owns a `Store`, a threaded HTTP server (handlers.py) on a random (or given) port, a kubeconfig
file pointing at it, and the request log (`RequestRecord`s: method, path, verb, resource,
status code, user agent) that tests use to count API writes. Used by tests/kube/conftest.py
(`fake_api` fixture) and by `python -m fakekube`.
"""
from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import yaml

from fakekube import errors, rbac, routes
from fakekube.handlers import ApiRequestHandler
from fakekube.store import Store


@dataclass
class RequestRecord:
    """One HTTP request the fake API server received."""

    method: str
    path: str  # including the query string
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection (or 'get' for discovery)
    group: str
    version: str
    resource: str  # plural, '' for discovery/other
    namespace: str | None
    name: str | None
    subresource: str | None
    user_agent: str
    code: int = 0
    seconds: float = 0.0
    user: str = ""  # who: "kubernetes-admin", or "system:serviceaccount:<ns>:<name>" for pods' tokens

    @property
    def is_write(self) -> bool:
        return self.verb in routes.WRITE_VERBS

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.code} ({self.verb})"


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """Dropped connections are normal (clients stop watching); anything else is a fake bug."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError, OSError)):
            self.fake.errors.append(traceback.format_exc())


class FakeApiServer:
    """A fake kube-apiserver; `start()` it, point clients at `.url` / `.kubeconfig_path`, `stop()` it."""

    def __init__(self, port: int = 0, workdir: str | Path | None = None, history_limit: int = 20_000,
                 enforce_rbac: bool = False):
        self.store = Store(history_limit=history_limit)
        self._requested_port = port
        self._workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fakekube-"))
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = False
        # When True, ServiceAccount tokens (what pods get) are held to Roles/RoleBindings (rbac.py).
        self.enforce_rbac = enforce_rbac
        self.errors: list[str] = []  # tracebacks of bugs in the fake itself (500 answers); should stay empty
        # Set by a FakeKubelet: (namespace, pod, container) -> path of that container's log file.
        self.log_reader: Callable[[str, str, str], Path | None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "FakeApiServer":
        self._httpd = _HttpServer(("127.0.0.1", self._requested_port), ApiRequestHandler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fakekube-api", daemon=True)
        self._thread.start()
        self.kubeconfig_path.write_text(yaml.safe_dump(self.kubeconfig()))
        return self

    def stop(self) -> None:
        self.stopping = True
        with self.store.changed:
            self.store.closed = True
            self.store.changed.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            with self._connections_lock:
                for connection in list(self._connections):
                    try:
                        connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeApiServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _track_connection(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    # --- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the server first"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kubeconfig_path(self) -> Path:
        return self._workdir / "kubeconfig.yaml"

    def kubeconfig(self, namespace: str = "default", token: str = "fakekube-token") -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "fakekube", "cluster": {"server": self.url}}],
            "users": [{"name": "fakekube", "user": {"token": token}}],
            "contexts": [{"name": "fakekube", "context": {"cluster": "fakekube", "user": "fakekube",
                                                          "namespace": namespace}}],
            "current-context": "fakekube",
        }

    def kubeconfig_for(self, namespace: str, service_account: str) -> Path:
        """A kubeconfig file that authenticates as that ServiceAccount (what the fake kubelet gives pods)."""
        path = self._workdir / "serviceaccounts" / f"{namespace}_{service_account}.yaml"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            token = rbac.service_account_token(namespace, service_account)
            path.write_text(yaml.safe_dump(self.kubeconfig(namespace, token)))
        return path

    def client(self):
        """A `kubernetes.client.ApiClient` talking to this server (no auth, no TLS)."""
        import kubernetes.client

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        return kubernetes.client.ApiClient(configuration)

    # --- request log ---------------------------------------------------------------------------

    def _record(self, method: str, path: str, route: routes.Route, user_agent: str) -> RequestRecord:
        record = RequestRecord(method, path, route.verb, route.group, route.version, route.plural,
                               route.namespace, route.name, route.subresource, user_agent)
        with self._requests_lock:
            self._requests.append(record)
        return record

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request received so far, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def writes(self, resource: str | None = None, user_agent_contains: str | None = None) -> list[RequestRecord]:
        """Write requests (create/update/patch/delete), optionally for one resource plural or client."""
        return [r for r in self.requests if r.is_write and (resource is None or r.resource == resource)
                and (user_agent_contains is None or user_agent_contains in r.user_agent)]

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    # --- direct access for tests (no HTTP, not logged) -----------------------------------------

    def rtype(self, api_version: str, plural: str):
        group, _, version = api_version.rpartition("/")
        return self.store.resource_type(group, version, plural)

    def get(self, api_version: str, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None if absent."""
        try:
            return self.store.get(self.rtype(api_version, plural), namespace, name)
        except errors.ApiError as error:
            if error.code == 404:
                return None
            raise

    def list(self, api_version: str, plural: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        from fakekube import selectors

        items, _ = self.store.list(self.rtype(api_version, plural), namespace,
                                   selectors.matcher(label_selector, None))
        return items

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create `obj`, or replace it if it exists (like `kubectl apply` of a full manifest)."""
        plural = _plural_for(self, obj)
        rtype = self.rtype(obj["apiVersion"], plural)
        namespace = obj.get("metadata", {}).get("namespace") or ("default" if rtype.namespaced else None)
        try:
            return self.store.create(rtype, namespace, obj)
        except errors.ApiError as error:
            if error.code != 409:
                raise
            return self.store.update(rtype, namespace, obj["metadata"]["name"],
                                     lambda current: {**obj, "metadata": {**obj["metadata"], "resourceVersion": None}})

    def apply_yaml(self, path: str | Path) -> list[dict[str, Any]]:
        """Apply every document of a YAML file (e.g. crds/*.yaml)."""
        return [self.apply(doc) for doc in yaml.safe_load_all(Path(path).read_text()) if doc]

    def ensure_namespace(self, name: str) -> None:
        if self.get("v1", "namespaces", name) is None:
            self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
                 message: str = "condition") -> Any:
        """Poll `predicate()` until it returns something truthy; raise TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
            time.sleep(interval)


def _plural_for(server: FakeApiServer, obj: dict[str, Any]) -> str:
    group, _, version = obj["apiVersion"].rpartition("/")
    for rtype in server.store.registry.all_types():
        if rtype.group == group and rtype.version == version and rtype.kind == obj["kind"]:
            return rtype.plural
    raise errors.path_not_found(f"no resource for {obj['apiVersion']} {obj['kind']}")

