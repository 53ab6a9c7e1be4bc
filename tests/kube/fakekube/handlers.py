"""HTTP request handler of the fake Kubernetes API server.

One `ApiRequestHandler` per connection (HTTP/1.1 keep-alive, threaded server). It parses the
route (`routes.py`), serves discovery, CRUD, patch, delete and the status subresource, hands
watches and pod logs to `streams.py`, and turns `ApiError`s into `kind: Status` bodies.
Every request is recorded in the owning `FakeApiServer`'s request log.
"""
from __future__ import annotations

import json
import socket
import time
import traceback
from http.server import BaseHTTPRequestHandler
from typing import Any

import yaml

from fakekube import errors, patches, rbac, routes, selectors, streams
from fakekube.resources import ResourceType

JSON = "application/json"


class ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakekube"

    # --- plumbing ------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
        pass

    @property
    def fake(self):
        return self.server.fake

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle + delayed-ACK stalls
        self.fake._track_connection(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._track_connection(self.connection, False)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as error:
            raise errors.bad_request(f"invalid JSON in the request body: {error}") from None

    def _send(self, code: int, body: Any, content_type: str = JSON, warning: str | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if warning:
            self.send_header("Warning", f'299 - "{warning}"')
        self.end_headers()
        self.wfile.write(data)
        self._code = self._record.code = code

    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        route = routes.parse(method, self.path)
        record = self._record = self.fake._record(method, self.path, route, self.headers.get("User-Agent", ""))
        self._code = 0
        raw = self._read_body()
        user = rbac.identify(self.headers.get("Authorization"))
        record.user = user.name
        try:
            if route.kind == "resource":
                self._authorize(user, route)
                self._resource(method, route, raw)
            elif route.kind == "discovery":
                self._discovery(route)
            else:
                self._other(route)
        except errors.ApiError as error:
            self._send(error.code, error.status())
        except patches.PatchError as error:
            reason = "Invalid" if error.code == 422 else "BadRequest"
            self._send(error.code, errors.ApiError(error.code, reason, str(error)).status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - a bug in the fake: answer 500 and surface it to the test
            self.fake.errors.append(f"{method} {self.path}\n{traceback.format_exc()}")
            self.close_connection = True
            if not self._code:
                self._send(500, errors.ApiError(500, "InternalError", "fakekube internal error (see fake_api.errors)")
                           .status())
        finally:
            record.code = self._code
            record.seconds = time.monotonic() - started

    def _authorize(self, user: rbac.User, route: routes.Route) -> None:
        if not self.fake.enforce_rbac or user.is_admin:
            return
        verb = "get" if route.subresource == "log" else route.verb
        lister = lambda api_version, plural, namespace: self.fake.list(api_version, plural, namespace)  # noqa: E731
        if not rbac.allowed(lister, user, verb, route.group, route.plural, route.subresource, route.namespace,
                            route.name):
            raise errors.forbidden(rbac.forbidden_message(user, verb, route.group, route.plural, route.subresource,
                                                          route.namespace, route.name))

    # --- discovery and misc --------------------------------------------------------------------

    def _other(self, route: routes.Route) -> None:
        if route.path == "/version":
            self._send(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fakekube",
                             "gitCommit": "fakekube", "gitTreeState": "clean", "buildDate": "2024-08-13T00:00:00Z",
                             "goVersion": "go1.22.5", "compiler": "gc", "platform": "linux/amd64"})
        elif route.path in ("/healthz", "/readyz", "/livez"):
            self._send(200, b"ok", "text/plain")
        else:
            raise errors.path_not_found(route.path)

    def _discovery(self, route: routes.Route) -> None:
        registry = self.fake.store.registry
        if route.path.rstrip("/") == "/api":
            self._send(200, registry.api_versions(f"127.0.0.1:{self.fake.port}"))
        elif route.path.rstrip("/") == "/apis":
            self._send(200, registry.api_group_list())
        elif route.version:
            body = registry.api_resource_list(route.group, route.version)
            if body is None:
                raise errors.path_not_found(route.path)
            self._send(200, body)
        else:
            body = registry.api_group(route.group)
            if body is None:
                raise errors.path_not_found(route.path)
            self._send(200, body)

    # --- resources -----------------------------------------------------------------------------

    def _resource(self, method: str, route: routes.Route, raw: bytes) -> None:
        store = self.fake.store
        rtype = store.resource_type(route.group, route.version, route.plural)
        if not rtype.namespaced and route.namespace is not None:
            raise errors.path_not_found(route.path)
        if rtype.namespaced and route.namespace is None and (route.name is not None or method == "POST"):
            raise errors.path_not_found(route.path)
        if route.subresource is not None and route.subresource not in rtype.subresources:
            raise errors.path_not_found(route.path)
        params = routes.query_params(self.path)
        dry_run = params.get("dryRun") == "All"
        if route.subresource == "log":
            return streams.serve_pod_log(self, route, params)
        if method == "GET" and route.name is None:
            if route.verb == "watch":
                return streams.serve_watch(self, rtype, route, params)
            return self._list(rtype, route, params)
        if method == "GET":
            return self._send(200, store.get(rtype, route.namespace, route.name))
        if method == "POST":
            if route.subresource == "eviction":
                store.mark_disruption(route.namespace, route.name, "EvictionByEvictionAPI", "Eviction API: evicting")
                store.delete(rtype, route.namespace, route.name)
                return self._send(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
            if route.name is not None:
                raise errors.method_not_allowed()
            body = self._json_body(raw)
            if not isinstance(body, dict):
                raise errors.bad_request("the request body must be a JSON object")
            return self._send(201, store.create(rtype, route.namespace, body, dry_run=dry_run))
        if method == "PUT":
            body = self._json_body(raw)
            if not isinstance(body, dict):
                raise errors.bad_request("the request body must be a JSON object")
            result = store.update(rtype, route.namespace, route.name, lambda current: body,
                                  subresource=route.subresource, require_resource_version=rtype.custom,
                                  dry_run=dry_run)
            return self._send(200, result)
        if method == "PATCH":
            return self._patch(rtype, route, raw, params, dry_run)
        if method == "DELETE":
            return self._delete(rtype, route, raw, params, dry_run)
        raise errors.method_not_allowed()

    def _list(self, rtype: ResourceType, route: routes.Route, params: dict[str, str]) -> None:
        match = selectors.matcher(params.get("labelSelector"), params.get("fieldSelector"))
        items, rv = self.fake.store.list(rtype, route.namespace, match)
        start = int(params["continue"]) if params.get("continue", "").isdigit() else 0
        limit = int(params["limit"]) if params.get("limit", "").isdigit() and int(params["limit"]) > 0 else None
        page = items[start:start + limit] if limit else items[start:]
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and start + limit < len(items):
            metadata["continue"] = str(start + limit)
            metadata["remainingItemCount"] = len(items) - start - limit
        self._send(200, {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": metadata,
                         "items": page})

    def _patch(self, rtype: ResourceType, route: routes.Route, raw: bytes, params: dict[str, str],
               dry_run: bool) -> None:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        store = self.fake.store
        if content_type == "application/apply-patch+yaml":
            body = yaml.safe_load(raw.decode() or "{}")
            try:
                store.get(rtype, route.namespace, route.name)
            except errors.ApiError as error:
                if error.code != 404:
                    raise
                body.setdefault("metadata", {})["name"] = route.name
                return self._send(201, store.create(rtype, route.namespace, body, dry_run=dry_run))
            apply = lambda current: patches.merge_patch(current, body)
        else:
            body = self._json_body(raw)
            if content_type == "application/json-patch+json":
                apply = lambda current: patches.json_patch(current, body)
            elif content_type == "application/merge-patch+json":
                apply = lambda current: patches.merge_patch(current, body)
            elif content_type == "application/strategic-merge-patch+json" and not rtype.custom:
                apply = lambda current: patches.strategic_merge_patch(current, body)
            else:
                raise errors.unsupported_media_type(content_type)
        result = store.update(rtype, route.namespace, route.name, apply, subresource=route.subresource,
                              dry_run=dry_run)
        self._send(200, result)

    def _delete(self, rtype: ResourceType, route: routes.Route, raw: bytes, params: dict[str, str],
                dry_run: bool) -> None:
        options = self._json_body(raw) or {}
        propagation = params.get("propagationPolicy") or options.get("propagationPolicy")
        if propagation is None and (params.get("orphanDependents") == "true" or options.get("orphanDependents")):
            propagation = "Orphan"
        grace = params.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
        grace = int(grace) if grace not in (None, "") else None
        dry_run = dry_run or "All" in (options.get("dryRun") or [])
        store = self.fake.store
        warning = None
        if propagation is None and rtype.group == "batch" and rtype.kind == "Job":
            warning = ("child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
                       "to remove them or set propagationPolicy=Orphan to suppress this warning")
        if route.name is None:
            match = selectors.matcher(params.get("labelSelector"), params.get("fieldSelector"))
            items, _ = store.list(rtype, route.namespace, match)
            deleted = []
            for item in items:
                try:
                    deleted.append(store.delete(rtype, item["metadata"].get("namespace"), item["metadata"]["name"],
                                                propagation, grace, dry_run=dry_run)[0])
                except errors.ApiError as error:
                    if error.code != 404:
                        raise
            return self._send(200, {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version,
                                    "metadata": {"resourceVersion": str(store.resource_version)}, "items": deleted},
                              warning=warning)
        obj, pending = store.delete(rtype, route.namespace, route.name, propagation, grace,
                                    options.get("preconditions"), dry_run=dry_run)
        if pending or (rtype.kind == "Pod" and not rtype.group):
            return self._send(202 if pending and rtype.kind != "Pod" else 200, obj, warning=warning)
        details = {"name": route.name, "kind": rtype.plural, "uid": obj["metadata"]["uid"]}
        if rtype.group:
            details["group"] = rtype.group
        self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": details}, warning=warning)
