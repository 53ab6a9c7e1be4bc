"""The API server's audit log, read as the tests' request log.

kube-apiserver writes one JSON line per request stage (policy in controlplane.py: every request
of a non-system user, stage RequestReceived omitted). A watch appears when it starts
(ResponseStarted); other requests when they complete. `read(path, offset)` returns each request
once, as a `RequestRecord`, from a byte offset (a test's start).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RequestRecord:
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str | None  # None for a cluster-wide request
    name: str
    code: int
    user: str
    user_agent: str
    path: str
    stage: str

    @property
    def is_write(self) -> bool:
        return self.verb in ("create", "update", "patch", "delete", "deletecollection")


def _record(event: dict) -> RequestRecord:
    ref = event.get("objectRef") or {}
    return RequestRecord(
        verb=event.get("verb", ""),
        group=ref.get("apiGroup", ""),
        resource=ref.get("resource", ""),
        subresource=ref.get("subresource", ""),
        namespace=ref.get("namespace") or None,
        name=ref.get("name", ""),
        code=(event.get("responseStatus") or {}).get("code", 0),
        user=(event.get("user") or {}).get("username", ""),
        user_agent=event.get("userAgent", ""),
        path=event.get("requestURI", ""),
        stage=event.get("stage", ""),
    )


def read(path: Path, offset: int = 0) -> list[RequestRecord]:
    seen: set[str] = set()
    out = []
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    for line in data.splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # a line being written
            continue
        if event.get("auditID") in seen:
            continue
        if event.get("stage") == "ResponseStarted" and event.get("verb") != "watch":
            continue
        seen.add(event.get("auditID"))
        out.append(_record(event))
    return out


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
