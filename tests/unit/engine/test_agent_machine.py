"""The agent's pure decisions (pjob.engine.agent_machine.handle): table tests
of what each event makes the agent do, no processes."""

from __future__ import annotations

import pytest
from pjob.engine import agent_machine as am
from pjob.engine import policy
from pjob.queue import protocol

LIMITS = policy.Limits(timeout=60.0, task_overhead_timeout=600.0)


def worker(slot, ready=True, queued=0, phase="run", started=99.0):
    return am.Worker(slot, ready, queued, phase, started)


def state(*workers, **kw):
    return am.State(workers=tuple(workers), limits=LIMITS, last_heartbeat=kw.pop("last_heartbeat", 99.0), **kw)


def without_wait(actions):
    assert isinstance(actions[-1], am.Wait)
    return actions[:-1]


CASES = [
    ("nothing ready yet: only wait", state(worker(0, ready=False)), am.Tick(100.0), []),
    ("ready and empty-handed: claim", state(worker(0), worker(1)), am.Tick(100.0), [am.Claim(4)]),
    (
        "enough in hand: dispatch instead of claiming",
        state(worker(0), worker(1), local=6),
        am.Tick(100.0),
        [am.Send(0, 2), am.Send(1, 2)],
    ),
    (
        "a worker past run() timeout is killed",
        state(worker(0, queued=1, phase="run", started=30.0), worker(1, queued=1), local=4),
        am.Tick(100.0),
        [am.Kill(0, "RUN_TIMEOUT", 60.0), am.Send(1, 1)],
    ),  # the killed one gets nothing
    (
        "past the load timeout",
        state(worker(0, queued=1, phase="load", started=-600.0), local=3),
        am.Tick(100.0),
        [am.Kill(0, "LOAD_TIMEOUT", 600.0)],
    ),
    (
        "old outcomes are flushed, the heartbeat is due",
        state(worker(0, queued=2), local=2, outcomes=3, oldest_outcome=99.9, last_heartbeat=90.0),
        am.Tick(100.0),
        [am.Flush(), am.Heartbeat()],
    ),
    (
        "fresh outcomes wait to be batched",
        state(worker(0, queued=2), local=2, outcomes=3, oldest_outcome=99.99),
        am.Tick(100.0),
        [],
    ),
    (
        "idle with outcomes, nothing left to claim: flush now",
        state(worker(0, ready=False), outcomes=1, oldest_outcome=99.99, nothing_to_claim=True),
        am.Tick(100.0),
        [am.Flush()],
    ),
    (
        "idle with fresh outcomes and more to claim: the next claim's write carries them",
        state(worker(0, ready=False), outcomes=1, oldest_outcome=99.99),
        am.Tick(100.0),
        [],
    ),
    (
        "the backend's batching says how long outcomes wait",
        state(
            worker(0, queued=2),
            local=2,
            outcomes=3,
            oldest_outcome=95.0,
            batching=protocol.Batching(prefetch=64, flush_seconds=10.0, flush_max=4096),
        ),
        am.Tick(100.0),
        [],
    ),
    (
        "a full buffer is written at once",
        state(worker(0, queued=2), local=2, outcomes=256, oldest_outcome=99.99),
        am.Tick(100.0),
        [am.Flush()],
    ),
    (
        "idle, nothing to claim: ask whether the queue is final",
        state(worker(0, ready=False), nothing_to_claim=True),
        am.Tick(100.0),
        [am.AskFinal()],
    ),
]


@pytest.mark.parametrize("what, s, event, expected", CASES, ids=[c[0] for c in CASES])
def test_tick(what, s, event, expected):
    assert without_wait(am.handle(s, event)) == expected


@pytest.mark.parametrize(
    "s, event, expected",
    [
        (
            state(worker(0, queued=3)),
            am.WorkerLost(0, "WORKER_DIED"),
            [am.FailHead(0, "WORKER_DIED"), am.Requeue(0), am.Restart(0)],
        ),  # retry: the queue decides
        (
            state(worker(0, queued=3), stopping=True),
            am.WorkerLost(0, "RUN_TIMEOUT"),
            [am.FailHead(0, "RUN_TIMEOUT"), am.Requeue(0)],
        ),  # stopping: no fresh worker
        (state(worker(0, queued=3)), am.Terminate(), [am.HandBack()]),  # SIGTERM: hand back unburnt
        (state(worker(0, queued=2), stopping=True), am.Tick(100.0), [am.HandBack()]),
        (state(worker(0)), am.QueueFinal(True), [am.HandBack()]),  # the verdict: every mini-batch final
        (state(worker(0)), am.QueueFinal(False), []),
        (
            state(worker(0), worker(1, ready=False), worker(2, queued=1), local=5),
            am.Claimed(100.0),
            [am.Send(0, 2), am.Send(2, 1)],
        ),  # only ready workers, up to the depth
    ],
)
def test_events(s, event, expected):
    assert am.handle(s, event) == expected


def test_wait_until_the_next_deadline_or_sooner():
    s = state(worker(0, queued=1, phase="run", started=99.7), local=4)
    (wait,) = [a for a in am.handle(s, am.Tick(100.0)) if isinstance(a, am.Wait)]
    assert wait.seconds == pytest.approx(1.0)  # deadline 159.7 is far: look again within a second
    idle = state(worker(0, ready=False))
    assert am.handle(idle, am.Tick(100.0))[-1] == am.Wait(am.IDLE_WAIT)


def wait_of(s, now=100.0):
    (wait,) = [a for a in am.handle(s, am.Tick(now)) if isinstance(a, am.Wait)]
    return wait


@pytest.mark.parametrize(
    "what, s, nap",
    [
        ("each worker holds 4 of ~5 ms: half of 3 x 5 ms", state(worker(0, queued=4), mean_seconds=0.005), 0.0075),
        (
            "the least-supplied worker decides",
            state(worker(0, queued=4), worker(1, queued=2), mean_seconds=0.005),
            0.0025,
        ),
        # 1 + 9 sent now (depth: 50 ms of ~5 ms mini-batches) -> half of 9 x 5 ms
        ("what this turn sends counts", state(worker(0, queued=1), local=10, mean_seconds=0.005), 0.0225),
        ("one mini-batch left: read its line at once", state(worker(0, queued=1), mean_seconds=0.005), 0.0),
        ("duration unknown", state(worker(0, queued=4)), 0.0),
        ("tiny mini-batches: many lines come to a read anyway", state(worker(0, queued=200), mean_seconds=5e-4), 0.0),
        (
            "a worker not ready yet: read its ready line",
            state(worker(0, queued=4), worker(1, ready=False), mean_seconds=0.005),
            0.0,
        ),
        ("long mini-batches: at most NAP_MAX", state(worker(0, queued=4), mean_seconds=10.0), am.NAP_MAX),
        (
            "never past the wait (outcomes due sooner)",
            state(
                worker(0, queued=4),
                mean_seconds=10.0,
                outcomes=1,
                oldest_outcome=100.0,
                batching=protocol.Batching(flush_seconds=0.01),
            ),
            0.01,
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_nap(what, s, nap):
    wait = wait_of(s)
    assert wait.nap == pytest.approx(nap) and wait.nap <= wait.seconds


@pytest.mark.parametrize(
    "what, s, sends",
    [
        (
            "every worker topped up to 50 ms of work",
            state(worker(0, queued=1), worker(1, queued=3), local=30, mean_seconds=0.005),
            [am.Send(0, 9), am.Send(1, 7)],
        ),
        (
            "tiny mini-batches: the depth's cap, however little the agent holds",
            state(worker(0), worker(1), local=300, mean_seconds=0.00005),
            [am.Send(0, 256), am.Send(1, 44)],
        ),
        (
            "the queue ran out: half an even share of the 34 held",
            state(worker(0, queued=1), worker(1, queued=3), local=30, mean_seconds=0.005, queue_short=True),
            [am.Send(0, 8), am.Send(1, 6)],
        ),
        (
            "the last 12: 3 each, not 10 to the first",
            state(worker(0, queued=0), worker(1, queued=0), local=12, mean_seconds=0.005, queue_short=True),
            [am.Send(0, 3), am.Send(1, 3)],
        ),
        (
            "what a worker already holds counts in the share",
            state(worker(0, queued=4), worker(1, queued=0), local=6, mean_seconds=0.005, queue_short=True),
            [am.Send(1, 3)],
        ),
        (
            "a worker not ready takes no share",
            state(worker(0, ready=False), worker(1), local=6, mean_seconds=0.005, queue_short=True),
            [am.Send(1, 3)],
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_dispatch_depth_and_the_tapered_tail(what, s, sends):
    assert am.dispatch(s) == sends


@pytest.mark.parametrize(
    "now, busy, due",
    [
        (100.1, False, False),  # the workers wait for their first mini-batches: not now
        (100.1, True, True),  # they are busy: a sample delays nobody
        (101.0, False, True),  # a second after start: even with idle workers
    ],
)
def test_resource_samples_never_hold_back_the_first_mini_batches(now, busy, due):
    assert am.sample_due(now, 100.0, busy) is due


def test_no_nap_in_a_turn_that_kills():
    s = state(worker(0, queued=4, started=30.0), worker(1, queued=4), mean_seconds=0.005)
    assert wait_of(s).nap == 0.0


# --- what workers say and do ----------------------------------------------------------

DONE = am.Result(4, 1, 1, 0, 0.01, 0.01, None, None)
SHORT = am.Result(5, 2, 1, 1, 0.01, 0.01, "run() returned 1 result for 2 inputs", None)


@pytest.mark.parametrize(
    "what, s, event, expected",
    [
        ("data loaded: run() starts", state(worker(0, queued=1, phase="load")), am.Loaded(0, 7), [am.StartRun(0, 7)]),
        (
            "ready: it takes work at once",
            state(worker(0, ready=False), local=5),
            am.Ready(0),
            [am.MarkReady(0), am.Send(0, 2)],
        ),
        (
            "ready while stopping: nothing to send",
            state(worker(0, ready=False), local=5, stopping=True),
            am.Ready(0),
            [am.MarkReady(0)],
        ),
        (
            "finished (one read, two lines, one short): recorded together, then topped up",
            state(worker(0, queued=2), local=5),
            am.Finished(0, (DONE, SHORT)),
            [am.Record(0, (DONE, SHORT)), am.Send(0, 2)],
        ),
        (
            "finished while stopping: recorded, nothing sent",
            state(worker(0, queued=1), local=5, stopping=True),
            am.Finished(0, (DONE,)),
            [am.Record(0, (DONE,))],
        ),
        (
            "run() raised: the attempt fails, the queue decides about a retry",
            state(worker(0, queued=1)),
            am.Raised(0, 4, "RUN_EXCEPTION", "Traceback", 0.5, 0.4),
            [am.FailAttempt(0, "RUN_EXCEPTION", "Traceback", 0.5, 0.4)],
        ),
        (
            "the disk is full: the head goes back unburnt and the agent stops",
            state(worker(0, queued=1)),
            am.Raised(0, 4, am.NO_SPACE, "no space", 0.5, 0.4),
            [am.ReturnHead(0), am.NoSpace("no space")],
        ),
        (
            "init() failed: note it, start a fresh worker",
            state(worker(0, ready=False), worker(1, ready=False)),
            am.InitFailed(0, "boom"),
            [am.InitFailure(0, "boom", False), am.Restart(0)],
        ),
        (
            "init() failed 3 x workers times in a row: give up",
            state(worker(0, ready=False), worker(1, ready=False), init_failures=5),
            am.InitFailed(0, "boom"),
            [am.InitFailure(0, "boom", True)],
        ),
        (
            "a late init() failure once given up: only close it",
            state(worker(0, ready=False), fatal=True),
            am.InitFailed(0, "boom"),
            [am.Close(0)],
        ),
        (
            "died before ready: an init failure",
            state(worker(0, ready=False), worker(1)),
            am.Exited(0, "died in init"),
            [am.InitFailure(0, "died in init", False), am.Restart(0)],
        ),
        (
            "died with work: the head fails, the rest go back, a fresh worker",
            state(worker(0, queued=3)),
            am.Exited(0),
            [am.FailHead(0, "WORKER_DIED"), am.Requeue(0), am.Restart(0)],
        ),
        (
            "died idle: noted and restarted",
            state(worker(0)),
            am.Exited(0),
            [am.NoteIdleExit(0), am.Close(0), am.Restart(0)],
        ),
        (
            "died idle while stopping: not restarted",
            state(worker(0), stopping=True),
            am.Exited(0),
            [am.NoteIdleExit(0), am.Close(0)],
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_worker_events(what, s, event, expected):
    assert am.handle(s, event) == expected
