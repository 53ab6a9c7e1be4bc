"""Streaming responses of the fake API server: watch streams and followed pod logs.

`serve_watch` replays changes after a resourceVersion (or the current objects first, when none is
given), then streams new ones as chunked JSON lines (`{"type": ..., "object": ...}`), filtered by
namespace and selectors with enter/leave transitions (`watch_event`), ending at timeoutSeconds
(with a BOOKMARK when asked), on 410 Gone (an ERROR event), on server stop or client disconnect.
`serve_pod_log` serves pods/log from the fake kubelet's log files. Called by handlers.py.
"""
from __future__ import annotations

import json
import select
import socket
import time
from typing import Any

from fakekube import convert, errors, routes, selectors
from fakekube.resources import ResourceType
from fakekube.store import Change

JSON = "application/json"


def client_gone(handler) -> bool:
    """True once the client closed its side of the connection."""
    try:
        readable, _, _ = select.select([handler.connection], [], [], 0)
        return bool(readable) and handler.connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def send_chunk(handler, data: bytes) -> None:
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    handler.wfile.flush()


def _event_chunk(handler, event: dict[str, Any]) -> None:
    send_chunk(handler, json.dumps(event).encode() + b"\n")

def serve_watch(handler, rtype: ResourceType, route: routes.Route, params: dict[str, str]) -> None:
    """Stream watch events as chunked JSON lines until timeoutSeconds, a 410, or the client leaves."""
    store = handler.fake.store
    match = selectors.matcher(params.get("labelSelector"), params.get("fieldSelector"))
    timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
    deadline = time.monotonic() + timeout if timeout else None
    since = params.get("resourceVersion") or ""
    handler.send_response(200)
    handler.send_header("Content-Type", JSON)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler._code = handler._record.code = 200
    handler.close_connection = False
    with store.lock:
        if since in ("", "0"):
            initial, rv = store.list(rtype, route.namespace, match)
        else:
            initial, rv = [], int(since) if since.isdigit() else 0
    for obj in initial:
        _event_chunk(handler, {"type": "ADDED", "object": obj})
    try:
        while not store.closed and not handler.fake.stopping:
            expired = False
            try:
                with store.changed:
                    changes = store.changes_after(rv)
                    if not changes:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        expired = remaining is not None and remaining <= 0
                        if not expired:
                            store.changed.wait(min(0.5, remaining) if remaining is not None else 0.5)
                            changes = store.changes_after(rv)
            except errors.ApiError as error:  # 410: the resourceVersion was compacted away
                _event_chunk(handler, {"type": "ERROR", "object": error.status()})
                break
            if expired:
                break
            for change in changes:
                rv = change.rv
                event = watch_event(change, rtype, route.namespace, match)
                if event is not None:
                    _event_chunk(handler, event)
            if not changes and client_gone(handler):
                handler.close_connection = True
                return
        if params.get("allowWatchBookmarks") == "true" and not handler.fake.stopping:
            _event_chunk(handler, {"type": "BOOKMARK", "object": {"kind": rtype.kind, "apiVersion": rtype.api_version,
                                                        "metadata": {"resourceVersion": str(rv)}}})
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError, OSError):
        handler.close_connection = True

def serve_pod_log(handler, route: routes.Route, params: dict[str, str]) -> None:
    """The pods/log subresource: the container's output (tailLines, limitBytes, follow)."""
    store = handler.fake.store
    pod_type = store.resource_type("", "v1", "pods")
    pod = store.get(pod_type, route.namespace, route.name)
    container = params.get("container") or pod["spec"]["containers"][0]["name"]
    reader = handler.fake.log_reader
    path = reader(route.namespace, route.name, container) if reader else None
    text = path.read_bytes() if path is not None and path.exists() else b""
    if params.get("tailLines", "").isdigit():
        lines = text.splitlines(keepends=True)
        text = b"".join(lines[-int(params["tailLines"]):]) if int(params["tailLines"]) else b""
    if params.get("limitBytes", "").isdigit():
        text = text[:int(params["limitBytes"])]
    if params.get("follow") != "true" or path is None:
        return handler._send(200, text, "text/plain")
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler._code = handler._record.code = 200
    offset = path.stat().st_size if path.exists() else 0
    if text:
        send_chunk(handler, text)
    finished = False
    while not handler.fake.stopping:
        data = b""
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
            offset += len(data)
        if data:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()
            continue
        if finished:
            break
        try:
            live = store.get(pod_type, route.namespace, route.name)
            finished = (live.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        except errors.ApiError:
            finished = True
        if client_gone(handler):
            break
        if not finished:
            time.sleep(0.1)
    handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()

def watch_event(change: Change, rtype: ResourceType, namespace: str | None, match) -> dict[str, Any] | None:
    """The event a watch on (rtype, namespace, selectors) sees for one change, or None."""
    if change.storage_key != rtype.storage_key:
        return None
    if rtype.namespaced and namespace is not None and change.namespace != namespace:
        return None
    new_matches = match(change.obj)
    old_matches = change.old is not None and match(change.old)
    if change.type == "ADDED":
        event_type = "ADDED" if new_matches else None
    elif change.type == "DELETED":
        event_type = "DELETED" if new_matches else None
    elif new_matches and old_matches:
        event_type = "MODIFIED"
    elif new_matches:
        event_type = "ADDED"
    elif old_matches:
        event_type = "DELETED"
    else:
        event_type = None
    if event_type is None:
        return None
    return {"type": event_type, "object": {**convert.from_storage(rtype, change.obj), "apiVersion": rtype.api_version,
                                           "kind": rtype.kind}}
