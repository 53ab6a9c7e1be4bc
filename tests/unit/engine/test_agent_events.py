"""The agent machine's events and actions are named tuples (cheap to define
at import) that compare like the frozen dataclasses they replaced."""

from __future__ import annotations

from unittest import mock

import pytest
from pjob.engine import agent_events as ev


def test_equal_only_to_the_same_class():
    assert ev.Restart(0) == ev.Restart(0) and not ev.Restart(0) != ev.Restart(0)
    assert ev.Restart(0) != ev.Close(0) and not ev.Restart(0) == ev.Close(0)
    assert ev.Claim(1) != (1,) and (1,) != ev.Claim(1) and not (1,) == ev.Claim(1)
    assert ev.Claim(1) != 1 and ev.Claim(1) == mock.ANY
    assert [ev.Send(0, 2), ev.Flush()] == [ev.Send(0, 2), ev.Flush()]
    assert ev.Send(0, 2) in [ev.Claim(0), ev.Send(0, 2)] and ev.Send(2, 0) not in [ev.Send(0, 2)]
    assert len({ev.Kill(0, "RUN_TIMEOUT", 1.0), ev.Kill(0, "RUN_TIMEOUT", 1.0)}) == 1


def test_frozen_unordered_and_always_true():
    with pytest.raises(AttributeError):
        ev.Claim(1).n = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        _ = ev.Claim(1) < ev.Claim(2)  # type: ignore[operator]
    assert ev.Flush() and ev.HandBack() and ev.Terminate()


def test_repr_defaults_and_match():
    assert repr(ev.Wait(1.5)) == "Wait(seconds=1.5, nap=0.0)"
    assert ev.Exited(3).startup_error == ""
    match ev.Kill(1, "LOAD_TIMEOUT", 600.0):
        case ev.Kill(slot, status, limit):
            assert (slot, status, limit) == (1, "LOAD_TIMEOUT", 600.0)
        case _:
            pytest.fail("no match")
