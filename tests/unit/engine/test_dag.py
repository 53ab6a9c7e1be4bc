"""engine.dag.next_steps, table-driven: the one policy `pjob run` and the
operator follow for which steps start, which are skipped (and why) and the
pipeline's state."""

import pytest
from pjob.engine import dag

P, R, S, F, K = dag.PENDING, dag.RUNNING, dag.SUCCEEDED, dag.FAILED, dag.SKIPPED
UP = dag.MSG_UPSTREAM.format
STOP = dag.MSG_STOPPED

# prep -> score -> report ; side (independent)
DEPS = {"prep": [], "side": [], "score": ["prep"], "report": ["score"]}


def states(prep, side, score, report):
    return {"prep": prep, "side": side, "score": score, "report": report}


# name, states, continue_on_step_failure, start, skip, pipeline state, failed step
CASES = [
    ("fresh: the roots start", states(P, P, P, P), False, ["prep", "side"], {}, R, None),
    ("prep done: score starts", states(S, R, P, P), False, ["score"], {}, R, None),
    ("a running step is not started again", states(S, S, R, P), False, [], {}, R, None),
    ("all succeeded", states(S, S, S, S), False, [], {}, S, None),
    (
        "prep failed, side running: downstream skipped, the pipeline waits for side",
        states(F, R, P, P),
        False,
        [],
        {"score": UP(step="prep"), "report": UP(step="score")},
        R,
        "prep",
    ),
    ("prep failed, side done: Failed", states(F, S, K, K), False, [], {}, F, "prep"),
    (
        "side failed first: independent pending steps do not start",
        states(S, F, P, P),
        False,
        [],
        {"score": STOP, "report": UP(step="score")},
        F,
        "side",
    ),
    ("continue_on_step_failure: independent steps go on", states(S, F, P, P), True, ["score"], {}, R, "side"),
    (
        "continue_on_step_failure: a step whose upstream failed is skipped",
        states(F, P, P, P),
        True,
        ["side"],
        {"score": UP(step="prep"), "report": UP(step="score")},
        R,
        "prep",
    ),
    ("continue_on_step_failure: Failed once nothing runs", states(F, S, K, K), True, [], {}, F, "prep"),
    (
        "continue_on_step_failure: waiting on a running upstream is not skipping",
        states(R, F, P, P),
        True,
        [],
        {},
        R,
        "side",
    ),
]


@pytest.mark.parametrize("name,before,cont,start,skip,state,failed", CASES, ids=[c[0] for c in CASES])
def test_next_steps(name, before, cont, start, skip, state, failed):
    got = dag.next_steps(before, DEPS, cont)
    assert (got.start, got.skip, got.state, got.failed) == (start, skip, state, failed)


def test_states_after_the_decision():
    before = states(F, P, P, P)
    got = dag.next_steps(before, DEPS, True)
    assert got.states(before) == states(F, R, K, K)
    assert before == states(F, P, P, P)  # the input is never changed


def test_one_step_at_a_time_like_pjob_run():
    """pjob run starts the first step of ``start`` and asks again: run order, nothing twice."""
    now = states(P, P, P, P)
    ran = []
    while (got := dag.next_steps(now, DEPS, False)).start:
        now = got.states(now)
        ran.append(got.start[0])
        now.update({name: P for name in got.start[1:]})  # only the first one runs
        now[got.start[0]] = F if got.start[0] == "score" else S
    assert ran == ["prep", "side", "score"]
    assert dag.next_steps(now, DEPS, False).skip == {"report": UP(step="score")}


def test_unknown_dependencies_are_ignored_and_no_steps_succeed():
    assert dag.next_steps({"a": P}, {"a": ["elsewhere"]}, False).start == ["a"]
    assert dag.next_steps({}, {}, False).state == S
