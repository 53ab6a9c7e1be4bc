"""Transient API errors and lease expiry of the Kubernetes coordinator, pure
parts: the backoff table, the retry loop with a fake clock, and the lease
observer judging expiry on its own clock."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes.client import exceptions as k8s_errors
from pjob.coord import kube_leases, kube_retry


def api_error(status, retry_after=None):
    exc = k8s_errors.ApiException(status=status, reason="x")
    exc.headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return exc


@pytest.mark.parametrize(
    "attempt, server_says, rand, expected",
    [
        (0, None, 0.5, 0.025),  # full jitter under 50 ms
        (3, None, 1.0 - 1e-9, 0.4),  # doubling
        (20, None, 0.5, 2.5),  # capped at 5 s
        (0, 2.0, 0.0, 2.0),  # Retry-After is the floor
        (0, 2.0, 0.5, 2.1),  # plus up to 10% so told-alike agents spread out
        (0, 1e6, 0.0, 60.0),  # an absurd Retry-After is bounded
    ],
)
def test_backoff(attempt, server_says, rand, expected):
    assert kube_retry.backoff(attempt, server_says, rand) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "exc, transient",
    [
        (api_error(429), True),
        (api_error(500), True),
        (api_error(503), True),
        (api_error(0), True),
        (ConnectionResetError(), True),
        (urllib3.exceptions.ReadTimeoutError(None, "/", "timed out"), True),
        (api_error(409), False),
        (api_error(422), False),
        (api_error(403), False),
        (api_error(404), False),
        (ValueError("bug"), False),
    ],
)
def test_what_is_transient(exc, transient):
    assert kube_retry.is_transient(exc) is transient


class FakeTime:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_retries_transient_errors_honouring_retry_after_then_succeeds():
    t = FakeTime()
    errors = [api_error(429, retry_after=3), api_error(503), ConnectionResetError()]

    def call():
        if errors:
            raise errors.pop(0)
        return "ok"

    assert kube_retry.retrying(call, sleep=t.sleep, clock=lambda: t.now, rand=lambda: 0.5) == "ok"
    assert t.slept == [pytest.approx(3.15), pytest.approx(0.05), pytest.approx(0.1)]


def test_gives_up_when_the_budget_is_spent_and_never_retries_final_errors():
    t = FakeTime()
    calls = []

    def down():
        calls.append(t.now)
        raise api_error(503)

    with pytest.raises(k8s_errors.ApiException):
        kube_retry.retrying(down, budget=30, sleep=t.sleep, clock=lambda: t.now, rand=lambda: 0.99)
    assert 5 < len(calls) and t.now <= 30

    def refused():
        calls.append("422")
        raise api_error(422)

    calls.clear()
    with pytest.raises(k8s_errors.ApiException):
        kube_retry.retrying(refused, sleep=t.sleep, clock=lambda: t.now)
    assert calls == ["422"]


def test_lease_expiry_is_judged_on_the_observers_clock():
    obs = kube_leases.LeaseObserver()
    # the holder's clock is an hour behind ours: its stamp says nothing about our time
    assert obs.observe([("a", "2020-01-01T00:00:00.000000Z", 30.0)], now=1000.0) == {"a": 1030.0}
    # the same stamp seen later: still alive until 30 s after we FIRST saw it
    assert obs.observe([("a", "2020-01-01T00:00:00.000000Z", 30.0)], now=1020.0) == {"a": 1030.0}
    # renewed (the stamp changed): alive for another duration from when we saw the change
    assert obs.observe([("a", "2020-01-01T00:00:07.000000Z", 30.0)], now=1040.0) == {"a": 1070.0}
    # a Lease never renewed is not alive; a holder not listed is absent
    assert obs.observe([("b", None, 30.0)], now=1050.0) == {}
