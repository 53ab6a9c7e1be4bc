"""The events and actions of ``pjob.engine.agent_machine`` (plain frozen
values; what each means and what decides it is there).

They are named tuples, not frozen dataclasses: a frozen dataclass costs
~0.5 ms to define (its methods are compiled from source at import), a named
tuple ~0.1 ms, and this module is imported on the way to the first run().
So they compare like the dataclasses did (``pjob.queue.protocol.as_values``):
equal only to a value of the same class (``Restart(0) != Close(0)``), never
ordered, always true (an empty one too); ``match`` class patterns work
(``__match_args__``). Like any tuple they can also be unpacked and indexed;
the agent only reads their fields by name."""

from __future__ import annotations

from typing import NamedTuple

from pjob.queue.protocol import as_values

# --- events ------------------------------------------------------------------------


class Tick(NamedTuple):
    now: float


class Claimed(NamedTuple):
    now: float


class WorkerLost(NamedTuple):
    slot: int
    status: str  # RUN_TIMEOUT | LOAD_TIMEOUT | WORKER_DIED


class Terminate(NamedTuple):
    pass


class QueueFinal(NamedTuple):
    final: bool


class Ready(NamedTuple):
    slot: int


class Loaded(NamedTuple):
    slot: int
    items: int | None  # what the worker read (planned counts may be estimates)


class Result(NamedTuple):
    """One "D" line: a mini-batch finished, its rows committed (one is made
    per mini-batch; a plain named tuple: equal to the tuple of its fields)."""

    mini_batch: int  # its index
    items: int
    succeeded: int
    failed: int
    elapsed: float
    run_s: float
    error: str | None  # a short return
    warning: str | None


class Finished(NamedTuple):
    slot: int
    results: tuple[Result, ...]


class Raised(NamedTuple):
    slot: int
    index: int  # type: ignore[assignment]  # the field hides tuple.index, unused here
    status: str  # LOAD_EXCEPTION | RUN_EXCEPTION | OUTPUT_EXCEPTION | NO_SPACE
    error: str
    elapsed: float
    run_s: float


class InitFailed(NamedTuple):
    slot: int
    error: str


class Exited(NamedTuple):
    slot: int
    startup_error: str = ""  # what to say should it have died before it was ready


# --- actions -----------------------------------------------------------------------


class Kill(NamedTuple):
    slot: int
    status: str  # RUN_TIMEOUT | LOAD_TIMEOUT
    limit: float  # the timeout it exceeded, seconds


class Claim(NamedTuple):
    n: int


class Send(NamedTuple):
    slot: int
    n: int  # mini-batches from the local queue, in order


class Flush(NamedTuple):
    pass


class Heartbeat(NamedTuple):
    pass


class AskFinal(NamedTuple):
    pass


class FailHead(NamedTuple):
    slot: int
    status: str


class Requeue(NamedTuple):
    slot: int  # the rest of its mini-batches go back to the front of the local queue


class Restart(NamedTuple):
    slot: int


class HandBack(NamedTuple):
    """Flush outcomes, kill busy workers, release every unfinished lease unburnt, shut down."""


class Wait(NamedTuple):
    """Wait for I/O at most ``seconds``; the first ``nap`` of them without
    reading the workers' result lines (each has enough queued: reading every
    line as it comes woke the agent once per mini-batch)."""

    seconds: float
    nap: float = 0.0


class MarkReady(NamedTuple):
    slot: int


class StartRun(NamedTuple):
    slot: int
    items: int | None


class Record(NamedTuple):
    """Pop a head of ``slot`` per result, record each (report row: RUN_SHORT
    when it carries an error, else RUN_DONE; outcome to the queue), start the next head."""

    slot: int
    results: tuple[Result, ...]


class FailAttempt(NamedTuple):
    """Pop the head of ``slot``: the attempt failed (retryable: the queue decides); start the next head."""

    slot: int
    status: str
    error: str
    elapsed: float
    run_s: float


class ReturnHead(NamedTuple):
    """The head of ``slot`` goes back to the front of the local queue, unburnt; the next head starts."""

    slot: int


class NoSpace(NamedTuple):
    """The disk is full: stop, hand everything back, say why (exit diskfull.EXIT_NO_SPACE)."""

    error: str


class InitFailure(NamedTuple):
    """Note the failure and close the worker; ``fatal``: give up on this instance."""

    slot: int
    error: str
    fatal: bool


class Close(NamedTuple):
    slot: int


class NoteIdleExit(NamedTuple):
    slot: int


Event = Tick | Claimed | WorkerLost | Terminate | QueueFinal | Ready | Loaded | Finished | Raised | InitFailed | Exited
Action = (
    Kill
    | Claim
    | Send
    | Flush
    | Heartbeat
    | AskFinal
    | FailHead
    | Requeue
    | Restart
    | HandBack
    | Wait
    | MarkReady
    | StartRun
    | Record
    | FailAttempt
    | ReturnHead
    | NoSpace
    | InitFailure
    | Close
    | NoteIdleExit
)

NO_SPACE = "NO_SPACE"  # the status a worker reports when its rows could not be written (pjob.engine.diskfull)

as_values(Tick, Claimed, WorkerLost, Terminate, QueueFinal, Ready, Loaded, Finished, Raised, InitFailed, Exited)
as_values(Kill, Claim, Send, Flush, Heartbeat, AskFinal, FailHead, Requeue, Restart, HandBack, Wait, MarkReady)
as_values(StartRun, Record, FailAttempt, ReturnHead, NoSpace, InitFailure, Close, NoteIdleExit)
