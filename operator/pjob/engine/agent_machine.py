"""The agent's decisions, pure: ``handle(state, event) -> actions``, after
dask's worker state machine (``WorkerState`` decides, ``BaseWorker`` does).
``pjob.engine.agent.Agent`` is the I/O shell: it takes a ``State`` snapshot
of its workers and queues, feeds an event, and executes the actions in order
(claim from the coordinator, write to a worker's pipe, kill a process, ...).

Events and what they decide:

- ``Tick(now)``, one turn of the select loop: kill workers past their
  load/run deadline, claim when the work in hand runs low, send claimed
  mini-batches to ready workers, flush outcomes, heartbeat, and, when idle
  with nothing to claim, ask whether the queue is final; then how long to wait,
  and how much of that without reading the workers' lines (``nap``);
- ``Claimed``: dispatch what came in;
- ``WorkerLost(slot, status)``, a worker timed out or died: its head
  mini-batch fails (retryable: the queue decides retry or final failure), the
  rest go back to the agent's local queue, a fresh worker starts unless the
  agent is stopping;
- ``Terminate`` (SIGTERM, driver gone, fatal error): hand back everything not
  finished, unburnt, and stop;
- ``QueueFinal(final)``: stop once every mini-batch is done or failed.

What workers say and do is fed as events too (``pjob.engine.agent_messages``
parses their result lines):

- ``Ready(slot)``: init() done, it takes work (dispatch now);
- ``Loaded(slot, items)``: its head's data is read, run() starts;
- ``Finished(slot, results)``: it finished mini-batches (every "D" line of one
  read, in order): each is recorded (RUN_SHORT when it carries an error), the
  next head starts, and the worker is topped up at once;
- ``Raised(slot, status, ...)``: its head's load or run() raised: the attempt
  fails (retryable), or, for a full disk, the head goes back unburnt and the
  agent stops;
- ``InitFailed(slot, error)``: count it; past ``3 x workers`` in a row the
  agent gives up (fatal), else a fresh worker starts unless stopping;
- ``Exited(slot)``: its pipe closed: before ready it is an init failure, with
  work it is ``WorkerLost``, idle it is restarted.
"""

from __future__ import annotations

from typing import NamedTuple

from pjob.engine import policy
from pjob.engine.agent_events import (  # the machine's vocabulary, re-exported
    NO_SPACE,
    Action,
    AskFinal,
    Claim,
    Claimed,
    Close,
    Event,
    Exited,
    FailAttempt,
    FailHead,
    Finished,
    Flush,
    HandBack,
    Heartbeat,
    InitFailed,
    InitFailure,
    Kill,
    Loaded,
    MarkReady,
    NoSpace,
    NoteIdleExit,
    QueueFinal,
    Raised,
    Ready,
    Record,
    Requeue,
    Restart,
    Result,
    ReturnHead,
    Send,
    StartRun,
    Terminate,
    Tick,
    Wait,
    WorkerLost,
)
from pjob.queue import batching, protocol

__all__ = [
    "Action",
    "AskFinal",
    "Claim",
    "Claimed",
    "Close",
    "Event",
    "Exited",
    "FailAttempt",
    "FailHead",
    "Finished",
    "Flush",
    "HEARTBEAT_SECONDS",
    "HandBack",
    "Heartbeat",
    "IDLE_WAIT",
    "InitFailed",
    "InitFailure",
    "Kill",
    "Loaded",
    "MarkReady",
    "NAP_FROM",
    "NAP_MAX",
    "NO_SPACE",
    "NoSpace",
    "NoteIdleExit",
    "QueueFinal",
    "Raised",
    "Ready",
    "Record",
    "Requeue",
    "Restart",
    "Result",
    "ReturnHead",
    "SAMPLE_AFTER",
    "Send",
    "StartRun",
    "State",
    "Terminate",
    "Tick",
    "Wait",
    "Worker",
    "WorkerLost",
    "claim_count",
    "dispatch",
    "handle",
    "nap",
    "sample_due",
    "timeouts",
]

HEARTBEAT_SECONDS = 5.0
IDLE_WAIT = 0.1
SAMPLE_AFTER = 1.0  # seconds after start from which resource samples are taken even with idle workers
NAP_MAX = 0.05  # seconds the agent leaves result lines unread, at most (see ``nap``)
NAP_FROM = 0.001  # mean mini-batch seconds from which it naps: shorter ones come many to a read anyway


class Worker(NamedTuple):
    """One worker as the machine sees it (named tuples: the agent takes a
    snapshot of these at every event, many per second)."""

    slot: int
    ready: bool  # init() done: can take mini-batches
    queued: int  # mini-batches sent to it and not finished (the head one is running)
    phase: str = "load"  # of the head mini-batch: load | run
    phase_started: float = 0.0  # monotonic


class State(NamedTuple):
    workers: tuple[Worker, ...]
    local: int = 0  # claimed, not yet sent to a worker
    outcomes: int = 0  # finished, not yet sent to the coordinator
    oldest_outcome: float = 0.0  # monotonic time the oldest of them finished
    batching: protocol.Batching = protocol.Batching()  # how far the queue's Batcher batches
    rate: float = 0.0  # mini-batches finished per second so far
    mean_seconds: float = 0.0  # mean duration of a mini-batch
    limits: policy.Limits = policy.Limits()  # frozen: one default shared by all
    stopping: bool = False
    nothing_to_claim: bool = False  # the last claim got nothing
    queue_short: bool = False  # the last claim got fewer than it asked for: the work is running out
    last_heartbeat: float = 0.0  # monotonic
    init_failures: int = 0  # consecutive init() failures on this instance
    fatal: bool = False  # given up (init failures, a full disk)

    @property
    def held(self) -> int:
        return self.local + sum(w.queued for w in self.workers)

    @property
    def idle(self) -> bool:
        return self.held == 0


def handle(state: State, event: Event) -> list[Action]:
    if isinstance(event, (Ready, Loaded, Finished, Raised, InitFailed, Exited)):
        return _worker_event(state, event)
    if isinstance(event, Terminate):
        return [HandBack()]
    if isinstance(event, QueueFinal):
        return [HandBack()] if event.final else []
    if isinstance(event, WorkerLost):
        actions: list[Action] = [FailHead(event.slot, event.status), Requeue(event.slot)]
        return actions if state.stopping else [*actions, Restart(event.slot)]
    if state.stopping:
        return [HandBack()]
    if isinstance(event, Claimed):
        return dispatch(state)
    if isinstance(event, Tick):
        return _turn(state, event.now)
    raise TypeError(f"not an agent event: {event!r}")


def _worker(state: State, slot: int) -> Worker:
    return next(w for w in state.workers if w.slot == slot)


def _with(state: State, changed: Worker) -> State:
    """``state`` with ``changed`` in place of the worker of its slot."""
    return state._replace(workers=tuple(changed if w.slot == changed.slot else w for w in state.workers))


def _worker_event(state: State, event: Ready | Loaded | Finished | Raised | InitFailed | Exited) -> list[Action]:
    if isinstance(event, Loaded):
        return [StartRun(event.slot, event.items)]
    if isinstance(event, Ready):
        ready = _with(state, _worker(state, event.slot)._replace(ready=True))
        return [MarkReady(event.slot), *([] if state.stopping else dispatch(ready))]
    if isinstance(event, Finished):
        record = Record(event.slot, event.results)
        if state.stopping:
            return [record]
        w = _worker(state, event.slot)
        after = _with(state, w._replace(queued=max(0, w.queued - len(event.results))))
        return [record, *dispatch(after)]  # top the worker up at once: it must not wait for the next turn
    if isinstance(event, Raised):
        if event.status == NO_SPACE:  # not the mini-batch's fault: it goes back, the job stops
            return [ReturnHead(event.slot), NoSpace(event.error)]
        return [FailAttempt(event.slot, event.status, event.error, event.elapsed, event.run_s)]
    if isinstance(event, InitFailed):
        return _init_failed(state, event.slot, event.error)
    if isinstance(event, Exited):
        w = _worker(state, event.slot)
        if not w.ready:
            return _init_failed(state, event.slot, event.startup_error)
        if w.queued:
            return handle(state, WorkerLost(event.slot, "WORKER_DIED"))
        return [NoteIdleExit(event.slot), Close(event.slot), *([] if state.stopping else [Restart(event.slot)])]
    raise TypeError(f"not a worker event: {event!r}")


def _init_failed(state: State, slot: int, error: str) -> list[Action]:
    if state.fatal:  # already given up: a late failure of another worker changes nothing
        return [Close(slot)]
    fatal = policy.init_failures_exhausted(state.init_failures + 1, len(state.workers))
    actions: list[Action] = [InitFailure(slot, error, fatal)]
    return actions if fatal or state.stopping else [*actions, Restart(slot)]


def _turn(state: State, now: float) -> list[Action]:
    kills, next_deadline = timeouts(state, now)
    actions: list[Action] = list(kills)
    if kills:  # a worker killed now is replaced: it takes nothing this turn
        killed = {k.slot for k in kills}
        state = state._replace(workers=tuple(w._replace(ready=False) if w.slot in killed else w for w in state.workers))
    sends: list[Action] = []
    if any(w.ready for w in state.workers):
        n = claim_count(state)
        sends = [] if n else dispatch(state)
        actions += [Claim(n)] if n else sends
    b = state.batching
    if state.outcomes and (
        (state.idle and state.nothing_to_claim)
        or batching.write_due(state.outcomes, now - state.oldest_outcome, b.flush_max, b.flush_seconds)
    ):
        actions.append(Flush())
    if now - state.last_heartbeat > HEARTBEAT_SECONDS:
        actions.append(Heartbeat())
    if state.idle and not state.outcomes and state.nothing_to_claim:
        actions.append(AskFinal())
    wait = next_deadline - now
    if state.outcomes:
        wait = min(wait, b.flush_seconds)
    if state.idle:
        wait = min(wait, IDLE_WAIT)
    wait = max(0.0, wait)
    return [*actions, Wait(wait, min(wait, nap(state, sends)) if not kills else 0.0)]


def nap(state: State, sends: list[Action]) -> float:
    """How long the agent may leave its workers' result lines unread: half
    the time the least-supplied worker needs to run through all but one of
    its queued mini-batches (after this turn's ``sends``), at most
    ``NAP_MAX``; 0 while a worker is not ready, for mini-batches shorter
    than ``NAP_FROM`` (or of unknown duration), or when a worker holds fewer
    than 2. Lines wait in the pipe meanwhile (a worker that dies leaves them
    there for the agent), and the agent reads several per wake-up instead of
    one per mini-batch."""
    if state.stopping or state.mean_seconds < NAP_FROM or not state.workers:
        return 0.0
    sent = {a.slot: a.n for a in sends if isinstance(a, Send)}
    least = min(w.queued + sent.get(w.slot, 0) if w.ready else 0 for w in state.workers)
    if least < 2:
        return 0.0
    return min(NAP_MAX, 0.5 * (least - 1) * state.mean_seconds)


def sample_due(now: float, started: float, busy: bool) -> bool:
    """Whether the agent may take a resource sample now (``engine.monitor``;
    the first imports psutil, ~20 ms): while some worker has work queued, or
    from ``SAMPLE_AFTER`` seconds after the agent's loop started; never while
    the workers wait for their first mini-batches."""
    return busy or now - started >= SAMPLE_AFTER


def claim_count(state: State) -> int:
    """How many to claim now (0: enough in hand; claim when below half the target)."""
    n = policy.claim_size(state.held, len(state.workers), state.rate)
    if n <= 0 or (state.held >= len(state.workers) and state.held > n):
        return 0
    return n


def dispatch(state: State) -> list[Action]:
    """Top up every ready worker's queue to the depth, one write each, in slot
    order. Once the queue runs out (a claim got fewer than it asked for), none
    past half an even share of what the agent holds (queued and in hand): the
    queues shrink with the last of the work, so no worker idles long while
    another, slower one still holds a queue."""
    depth = policy.queue_depth(state.mean_seconds)
    if state.queue_short and (ready := [w.queued for w in state.workers if w.ready]):
        depth = min(depth, max(1, -(-(state.local + sum(ready)) // (2 * len(ready)))))
    left, sends = state.local, list[Action]()
    for w in state.workers:
        if not left:
            break
        if w.ready and w.queued < depth:
            n = min(left, depth - w.queued)
            sends.append(Send(w.slot, n))
            left -= n
    return sends


def timeouts(state: State, now: float) -> tuple[list[Kill], float]:
    """Workers past their deadline, and the next deadline (at most a second away)."""
    kills, next_deadline = [], now + 1.0
    for w in state.workers:
        if not w.queued or not w.ready:
            continue
        deadline = policy.phase_deadline(w.phase, w.phase_started, state.limits)
        if now >= deadline:
            run = w.phase == "run"
            kills.append(
                Kill(
                    w.slot,
                    "RUN_TIMEOUT" if run else "LOAD_TIMEOUT",
                    state.limits.timeout if run else state.limits.task_overhead_timeout,
                )
            )
        else:
            next_deadline = min(next_deadline, deadline)
    return kills, next_deadline
