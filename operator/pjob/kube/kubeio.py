"""The operator's few Kubernetes API calls, on the official ``kubernetes``
client's ApiClient but with plain dicts in and out (the builders' objects go
out as they are; no model classes). Every call here is listed in
``pjob.kube.rbac.OPERATOR``.

``KubeApi`` is injected into the handlers through kopf's ``memo`` so unit
tests can pass a fake (KubeRay's ClientProvider seam).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

PATHS = {  # kind -> (API prefix, plural)
    "ConfigMap": ("/api/v1", "configmaps"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Pod": ("/api/v1", "pods"),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "Job": ("/apis/batch/v1", "jobs"),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases"),
    "ParallelJob": ("/apis/pjob.dev/v1alpha1", "paralleljobs"),
    "PipelineJob": ("/apis/pjob.dev/v1alpha1", "pipelinejobs"),
}


class ApiError(Exception):
    def __init__(self, status: int, body: bytes, what: str):
        self.status = status
        try:
            self.reason = json.loads(body).get("reason", "")
            message = json.loads(body).get("message", "")
        except ValueError:
            self.reason, message = "", body[:200].decode(errors="replace")
        super().__init__(f"{what}: HTTP {status} {self.reason}: {message}")


def load_client(user_agent: str = "pjob-operator") -> ApiClient:
    """An ApiClient from the pod's service account, else the kubeconfig (like kubectl)."""
    import kubernetes

    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    client = kubernetes.client.ApiClient()
    client.user_agent = user_agent
    return client


class KubeApi:
    def __init__(self, client: ApiClient | None = None) -> None:
        self.client = client if client is not None else load_client()

    def _path(self, kind: str, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        prefix, plural = PATHS[kind]
        path = f"{prefix}/namespaces/{urllib.parse.quote(namespace)}/{plural}"
        if name:
            path += "/" + urllib.parse.quote(name)
        if sub:
            path += "/" + sub
        return path

    @overload
    def _call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        ok_missing: Literal[False] = False,
    ) -> dict[str, Any]: ...

    @overload
    def _call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        ok_missing: bool,
    ) -> dict[str, Any] | None: ...

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        ok_missing: bool = False,
    ) -> dict[str, Any] | None:
        """The decoded JSON answer; None for a 404 when ``ok_missing``; ApiError for any other error."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, body, _ = self.client.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = self.client.call_api(method, url, header_params=headers, body=body)
        response.read()
        if response.status == 404 and ok_missing:
            return None
        if response.status >= 400:
            raise ApiError(response.status, response.data or b"", f"{method} {path}")
        answer: dict[str, Any] = json.loads(response.data) if response.data else {}
        return answer

    # --- calls -----------------------------------------------------------------------------------

    def create(self, obj: dict[str, Any]) -> bool:
        """Create ``obj``; False when it already exists (names are fixed, so a
        race or a restart costs one 409, never a duplicate)."""
        meta = obj["metadata"]
        try:
            self._call("POST", self._path(obj["kind"], meta["namespace"]), body=obj)
        except ApiError as exc:
            if exc.status == 409 and exc.reason == "AlreadyExists":
                return False
            raise
        return True

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._call("GET", self._path(kind, namespace, name), ok_missing=True)

    def list(self, kind: str, namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        query = [("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(selector.items())))]
        items: list[dict[str, Any]] = self._call("GET", self._path(kind, namespace), query=query)["items"]
        return items

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Delete with background propagation (a Job's pods go with it). False when already gone."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        return self._call("DELETE", self._path(kind, namespace, name), body=body, ok_missing=True) is not None
