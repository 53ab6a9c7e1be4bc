"""The queue's frozen records and the machine's events are named tuples
(cheap to define at import) that compare like the frozen dataclasses they
replaced (pjob.queue.protocol.as_values)."""

from __future__ import annotations

import math
import pickle

import pytest
from pjob.queue import machine, protocol


def test_equal_only_to_the_same_class():
    lease = protocol.Lease(3, 1, "a", 10.0)
    assert lease == protocol.Lease(index=3, attempt=1, owner="a", deadline=10.0)
    assert lease != (3, 1, "a", 10.0) and not (3, 1, "a", 10.0) == lease
    assert machine.Claim("a") != machine.Expire("a") and machine.Release("a", 1) != machine.Fail("a", 1, "")
    assert {lease: 1}[protocol.Lease(3, 1, "a", 10.0)] == 1
    assert pickle.loads(pickle.dumps(lease)) == lease


def test_frozen_unordered_true_and_defaults():
    with pytest.raises(AttributeError):
        protocol.Lease(3, 1, "a", 10.0).owner = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        _ = protocol.Lease(3, 1, "a", 10.0) < protocol.Lease(4, 1, "a", 10.0)  # type: ignore[operator]
    assert machine.Reset() and protocol.Batching()
    assert protocol.Batching().renew_seconds == math.inf and protocol.Batching().flush_max == 256
    assert repr(protocol.ClaimRequest(2)) == "ClaimRequest(need=2, prefetch=0, rate=0.0, horizon=0.0)"
    assert protocol.BatchRecord(1, "failed", 3, "a", "boom").items_failed == 0
