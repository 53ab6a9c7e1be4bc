"""JobSet's condition rules, table-driven: identical = no-op, reason/message
change keeps lastTransitionTime, status change = transition + event, the
Running/Succeeded/Failed conditions are mutually exclusive."""

import pytest
from pjob.kube import conditions as cond
from pjob.kube import constants as c

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def existing(type_, status, reason="R", message="m"):
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}


CASES = [
    # (name, before, set(type, status, reason, message), expected {type: (status, reason, lastTransitionTime)}, event)
    (
        "new condition is a transition",
        [],
        (c.RUNNING, c.TRUE, "R", "m"),
        {c.RUNNING: (c.TRUE, "R", T1)},
        (c.EVENT_NORMAL, "R"),
    ),
    (
        "identical condition is a no-op",
        [existing(c.RUNNING, c.TRUE)],
        (c.RUNNING, c.TRUE, "R", "m"),
        {c.RUNNING: (c.TRUE, "R", T0)},
        None,
    ),
    (
        "message change keeps the transition time",
        [existing(c.RUNNING, c.TRUE)],
        (c.RUNNING, c.TRUE, "R", "3/10 done"),
        {c.RUNNING: (c.TRUE, "R", T0)},
        None,
    ),
    (
        "reason change keeps the transition time",
        [existing(c.RUNNING, c.TRUE)],
        (c.RUNNING, c.TRUE, "Finalising", "m"),
        {c.RUNNING: (c.TRUE, "Finalising", T0)},
        None,
    ),
    (
        "status change is a transition",
        [existing(c.SPEC_VALID, c.TRUE)],
        (c.SPEC_VALID, c.FALSE, "SpecInvalid", "bad"),
        {c.SPEC_VALID: (c.FALSE, "SpecInvalid", T1)},
        (c.EVENT_WARNING, "SpecInvalid"),
    ),
    (
        "Succeeded flips Running to False",
        [existing(c.RUNNING, c.TRUE)],
        (c.SUCCEEDED, c.TRUE, "Completed", "ok"),
        {c.RUNNING: (c.FALSE, c.REASON_FINISHED, T1), c.SUCCEEDED: (c.TRUE, "Completed", T1)},
        (c.EVENT_NORMAL, "Completed"),
    ),
    (
        "Failed flips Running to False and warns",
        [existing(c.RUNNING, c.TRUE)],
        (c.FAILED, c.TRUE, "ErrorThreshold", "x"),
        {c.RUNNING: (c.FALSE, c.REASON_FINISHED, T1), c.FAILED: (c.TRUE, "ErrorThreshold", T1)},
        (c.EVENT_WARNING, "ErrorThreshold"),
    ),
    (
        "SpecValid is not exclusive",
        [existing(c.SPEC_VALID, c.TRUE)],
        (c.RUNNING, c.TRUE, "R", "m"),
        {c.SPEC_VALID: (c.TRUE, "R", T0), c.RUNNING: (c.TRUE, "R", T1)},
        (c.EVENT_NORMAL, "R"),
    ),
    (
        "a False exclusive condition stays as it is",
        [existing(c.FAILED, c.FALSE)],
        (c.SUCCEEDED, c.TRUE, "Completed", "ok"),
        {c.FAILED: (c.FALSE, "R", T0), c.SUCCEEDED: (c.TRUE, "Completed", T1)},
        (c.EVENT_NORMAL, "Completed"),
    ),
]


@pytest.mark.parametrize("name,before,setting,expected,event", CASES, ids=[case[0] for case in CASES])
def test_set_condition(name, before, setting, expected, event):
    snapshot = [dict(x) for x in before]
    after, got_event = cond.set_condition(before, *setting, now=T1, generation=3)
    assert before == snapshot, "set_condition must not mutate its input"
    got = {x["type"]: (x["status"], x["reason"], x["lastTransitionTime"]) for x in after}
    assert got == expected
    assert (got_event.type, got_event.reason) == event if event else got_event is None


def test_tracker_collects_only_transitions():
    tracker = cond.Tracker([], now=T1, generation=1)
    tracker.set(c.RUNNING, c.TRUE, "InProgress", "1/10")
    tracker.set(c.RUNNING, c.TRUE, "InProgress", "2/10")
    tracker.set(c.SUCCEEDED, c.TRUE, "Completed", "done")
    assert [e.reason for e in tracker.events] == ["InProgress", "Completed"]
    assert cond.terminal(tracker.conditions) == c.SUCCEEDED
    assert cond.summary_state(tracker.conditions) == c.STATE_SUCCEEDED


@pytest.mark.parametrize(
    "conds,state",
    [
        ([], c.STATE_PENDING),
        ([existing(c.SPEC_VALID, c.TRUE)], c.STATE_PENDING),
        ([existing(c.SPEC_VALID, c.FALSE)], c.STATE_FAILED),
        ([existing(c.RUNNING, c.TRUE)], c.STATE_RUNNING),
        ([existing(c.RUNNING, c.FALSE), existing(c.FAILED, c.TRUE)], c.STATE_FAILED),
    ],
)
def test_summary_state(conds, state):
    assert cond.summary_state(conds) == state
