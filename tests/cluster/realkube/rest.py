"""A small JSON client of the Kubernetes REST API (urllib3), for the test harness itself.

The product talks to the cluster through the official `kubernetes` client and kopf; the harness
(stand-in kubelet, fixtures, `make cluster`) uses this thin client so that what it does is plain
to read: paths from discovery, server-side apply for `apply`, watches as JSON lines.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml

Obj = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, body: Obj | str):
        self.status = status
        self.body = body
        reason = body.get("message") if isinstance(body, dict) else str(body)[:500]
        super().__init__(f"HTTP {status}: {reason}")


class Client:
    """One identity (client certificate or bearer token) on one API server."""

    def __init__(self, kubeconfig_path: str, user_agent: str = "pjob-test-harness"):
        config = yaml.safe_load(open(kubeconfig_path))
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.server = cluster["server"].rstrip("/")
        self.headers = {"User-Agent": user_agent, "Accept": "application/json"}
        pool: dict[str, Any] = {
            "ca_certs": cluster["certificate-authority"],
            "cert_reqs": "CERT_REQUIRED",
            "maxsize": 8,
            "retries": False,
        }
        if "token" in user:
            self.headers["Authorization"] = f"Bearer {user['token']}"
        else:
            pool.update(cert_file=user["client-certificate"], key_file=user["client-key"])
        self.http = urllib3.PoolManager(**pool)
        self._paths: dict[tuple[str, str], tuple[str, bool]] = {}
        self._lock = threading.Lock()

    # --- raw requests --------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        url = self.server + path + (("?" + urlencode(params)) if params else "")
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        headers = dict(self.headers, **({"Content-Type": content_type} if data is not None else {}))
        for _attempt in range(50):  # 429 (e.g. "storage is (re)initializing" right after a CRD change)
            response = self.http.request(method, url, body=data, headers=headers, timeout=timeout, preload_content=True)
            if response.status != 429:
                break
            time.sleep(min(float(response.headers.get("Retry-After") or 0.2), 1.0))
        text = response.data.decode("utf-8", "replace")
        if response.status >= 400:
            try:
                raise ApiError(response.status, json.loads(text))
            except ValueError:
                raise ApiError(response.status, text) from None
        return json.loads(text) if text and text.lstrip().startswith(("{", "[")) else text

    def watch(self, path: str, params: dict | None = None, timeout: float = 60.0) -> Iterator[Obj]:
        """Watch events (dicts with type and object) until the server closes the stream."""
        query = dict(params or {}, watch="true", timeoutSeconds=int(timeout))
        response = self.http.request(
            "GET",
            self.server + path + "?" + urlencode(query),
            headers=self.headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=10, read=timeout + 30),
        )
        try:
            if response.status >= 400:
                raise ApiError(response.status, response.read().decode(errors="replace"))
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()

    # --- resources ---------------------------------------------------------------------------------------
    def resource_path(
        self,
        api_version: str,
        plural: str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
        return path + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")

    def plural_of(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from discovery (cached; refreshed when a kind is unknown)."""
        key = (api_version, kind)
        with self._lock:
            if key not in self._paths:
                base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
                for resource in self.request("GET", base)["resources"]:
                    if "/" not in resource["name"]:
                        self._paths[(api_version, resource["kind"])] = (resource["name"], resource["namespaced"])
            if key not in self._paths:
                raise KeyError(f"the API server serves no kind {kind} in {api_version}")
            return self._paths[key]

    def get(self, api_version: str, plural: str, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return self.request("GET", self.resource_path(api_version, plural, namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(self, api_version: str, plural: str, namespace: str | None = None, **params) -> list[Obj]:
        return self.request("GET", self.resource_path(api_version, plural, namespace), params=params or None)["items"]

    def create(self, obj: Obj, namespace: str | None = None) -> Obj:
        plural, namespaced = self.plural_of(obj["apiVersion"], obj["kind"])
        ns = (namespace or obj["metadata"].get("namespace") or "default") if namespaced else None
        return self.request("POST", self.resource_path(obj["apiVersion"], plural, ns), obj)

    def apply(self, obj: Obj, namespace: str | None = None, manager: str = "pjob-tests") -> Obj:
        """Server-side apply (create or update), as `kubectl apply --server-side --force-conflicts` does."""
        plural, namespaced = self.plural_of(obj["apiVersion"], obj["kind"])
        ns = (namespace or obj["metadata"].get("namespace") or "default") if namespaced else None
        body = dict(obj, metadata={k: v for k, v in obj["metadata"].items() if k != "resourceVersion"})
        if ns:
            body["metadata"]["namespace"] = ns
        return self.request(
            "PATCH",
            self.resource_path(obj["apiVersion"], plural, ns, obj["metadata"]["name"]),
            json.dumps(body),
            params={"fieldManager": manager, "force": "true"},
            content_type="application/apply-patch+yaml",
        )

    def patch(
        self,
        api_version: str,
        plural: str,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        subresource: str | None = None,
        kind: str = "merge",
    ) -> Obj:
        content = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[kind]
        return self.request(
            "PATCH", self.resource_path(api_version, plural, namespace, name, subresource), patch, content_type=content
        )

    def delete(self, api_version: str, plural: str, name: str, namespace: str | None = None, **options) -> Obj | None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", **options}
        try:
            return self.request("DELETE", self.resource_path(api_version, plural, namespace, name), body)
        except ApiError as error:
            if error.status == 404:
                return None
            raise
