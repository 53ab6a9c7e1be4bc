"""engine.step_verdict, table-driven: the verdict of one parallel step from
its counters and what its agents did, the same for `pjob run` and the
operator; a fatal error left by an agent explains a failure."""

import pytest
from pjob.coord.base import Progress
from pjob.engine import policy
from pjob.engine import step_verdict as sv

LIMITS = policy.Limits(first_task_creation_timeout=600.0, progress_update_timeout=900.0)
RUNNING = Progress(total=4, done=1, pending=2, leased=1, attempts=2, last_progress=1000.0)
DONE = Progress(total=4, done=4, attempts=4, last_progress=1000.0)
INIT = "init() failed 3 times in a row on node 0 (limit 3 x max_concurrency_per_instance = 3): boom\nlast error:\n..."
REFUSED = "the API server refused to update ConfigMap ns/q (HTTP 422)\n"
NO_SPACE = "[node 0] no space left on device (writing /x); free space there and run the same command again"

# name, counters, agents, state, rule, message starts with
CASES = [
    ("running", RUNNING, sv.Agents(), policy.RUNNING, None, ""),
    ("not planned yet", None, sv.Agents(), policy.RUNNING, None, ""),
    (
        "counters final win over the agents",
        DONE,
        sv.Agents(crashed="x", all_exited=True),
        policy.SUCCEEDED,
        None,
        "4 of 4",
    ),
    (
        "init() kept failing",
        RUNNING,
        sv.Agents(fatal=INIT),
        policy.FAILED,
        policy.INIT_FAILURE,
        "init() failed 3 times",
    ),
    ("the disk is full", RUNNING, sv.Agents(fatal=NO_SPACE), policy.FAILED, policy.SYSTEM_ERROR, "[node 0] no space"),
    (
        "the queue was refused",
        None,
        sv.Agents(fatal=REFUSED),
        policy.FAILED,
        sv.QUEUE_REJECTED,
        "the API server refused",
    ),
    (
        "a fatal error before a crash",
        RUNNING,
        sv.Agents(fatal=INIT, crashed="x"),
        policy.FAILED,
        policy.INIT_FAILURE,
        "init()",
    ),
    (
        "crashed for good",
        RUNNING,
        sv.Agents(crashed=sv.MSG_AGENT_RESTARTS.format(node=1, code=1, times=4)),
        policy.FAILED,
        policy.SYSTEM_ERROR,
        "the agents failed (agent 1 exited with code 1 4 times) before every mini-batch was final",
    ),
    (
        "all exited, queue not final",
        RUNNING,
        sv.Agents(all_exited=True),
        policy.FAILED,
        policy.SYSTEM_ERROR,
        "every agent exited but not every mini-batch is final (1 of 4 final); see logs/sys/node/*/agent.txt",
    ),
    (
        "all exited before a plan",
        None,
        sv.Agents(all_exited=True),
        policy.FAILED,
        policy.SYSTEM_ERROR,
        "every agent exited but not every mini-batch is final; see",
    ),
]


@pytest.mark.parametrize("name,counters,agents,state,rule,message", CASES, ids=[c[0] for c in CASES])
def test_step_verdict(name, counters, agents, state, rule, message):
    v = sv.step_verdict(counters, LIMITS if counters is not None else None, agents, now=1010.0, started_at=1000.0)
    assert (v.state, v.rule) == (state, rule)
    assert v.message.startswith(message), v.message


def test_counters_rules_still_apply_through_the_step_verdict():
    late = sv.step_verdict(Progress(total=4, pending=4), LIMITS, sv.Agents(), now=2000.0, started_at=1000.0)
    assert (late.state, late.rule) == (policy.FAILED, policy.FIRST_TASK_CREATION_TIMEOUT)


EXPLAINED = [
    ("a system error with a fatal error says it", policy.SYSTEM_ERROR, INIT, policy.INIT_FAILURE),
    ("a system error without one stays", policy.SYSTEM_ERROR, None, policy.SYSTEM_ERROR),
    ("a blank fatal error explains nothing", policy.SYSTEM_ERROR, "\n", policy.SYSTEM_ERROR),
    ("a threshold failure keeps its rule", policy.ERROR_THRESHOLD, INIT, policy.ERROR_THRESHOLD),
]


@pytest.mark.parametrize("name,rule,fatal,expected", EXPLAINED, ids=[c[0] for c in EXPLAINED])
def test_explained(name, rule, fatal, expected):
    assert sv.explained(policy.Verdict(policy.FAILED, rule, "the agents failed"), fatal).rule == expected


def test_a_success_is_never_explained_away():
    ok = policy.Verdict(policy.SUCCEEDED, None, "4 of 4")
    assert sv.explained(ok, INIT) is ok
