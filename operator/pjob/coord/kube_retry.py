"""Transient Kubernetes API errors, retried: every call of the Kubernetes
coordinator (``pjob.coord.kube``, ``pjob.coord.kube_leases``) goes through
``retrying`` with a request timeout, so a 429 (with its Retry-After), a
500/502/503/504, a dropped connection or a timeout costs a jittered wait, never
an agent crash (a crash costs a pod restart and counts against the Job's
backoffLimit). Errors retrying cannot cure (403, 404, 409, 422, ...) raise at
once; the callers decide about those.

``backoff`` is the pure decision (table-tested); ``retrying`` is the loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes.client import exceptions as k8s_errors

REQUEST_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds, passed as _request_timeout on every call
TRANSIENT_STATUS = (0, 429, 500, 502, 503, 504)  # 0: the client's own connection errors
BASE_SECONDS, CAP_SECONDS = 0.05, 5.0
BUDGET_SECONDS = 300.0  # a longer outage than this is not transient: the error is raised


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, k8s_errors.ApiException):
        return exc.status in TRANSIENT_STATUS
    return isinstance(exc, (OSError, urllib3.exceptions.HTTPError))


def retry_after(exc: BaseException) -> float | None:
    """The server's Retry-After (seconds), if it sent one."""
    headers = getattr(exc, "headers", None) or {}
    try:
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, server_says: float | None, rand: float) -> float:
    """Seconds to wait before try ``attempt + 1`` (``attempt`` >= 0): "full
    jitter" exponential backoff, ``rand`` in [0, 1); a Retry-After is the
    floor (plus up to 10% jitter so agents told the same do not return as one)."""
    ceiling = min(CAP_SECONDS, BASE_SECONDS * 2**attempt)
    if server_says is not None:
        return min(max(server_says, 0.0), 60.0) * (1.0 + 0.1 * rand)
    return float(ceiling * rand)


def retrying(
    call: Callable[[], Any],
    budget: float = BUDGET_SECONDS,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> Any:
    """``call()``, retried on transient errors until ``budget`` seconds have passed."""
    deadline = clock() + budget
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            wait = backoff(attempt, retry_after(exc), rand())
            if clock() + wait > deadline:
                raise
        sleep(wait)
        attempt += 1
