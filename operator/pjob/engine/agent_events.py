"""The events and actions of ``pjob.engine.agent_machine`` (plain frozen
values; what each means and what decides it is there)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

# --- events ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Tick:
    now: float


@dataclasses.dataclass(frozen=True)
class Claimed:
    now: float


@dataclasses.dataclass(frozen=True)
class WorkerLost:
    slot: int
    status: str  # RUN_TIMEOUT | LOAD_TIMEOUT | WORKER_DIED


@dataclasses.dataclass(frozen=True)
class Terminate:
    pass


@dataclasses.dataclass(frozen=True)
class QueueFinal:
    final: bool


@dataclasses.dataclass(frozen=True)
class Ready:
    slot: int


@dataclasses.dataclass(frozen=True)
class Loaded:
    slot: int
    items: int | None  # what the worker read (planned counts may be estimates)


class Result(NamedTuple):
    """One "D" line: a mini-batch finished, its rows committed (a named
    tuple: one is made per mini-batch)."""

    mini_batch: int  # its index
    items: int
    succeeded: int
    failed: int
    elapsed: float
    run_s: float
    error: str | None  # a short return
    warning: str | None


@dataclasses.dataclass(frozen=True)
class Finished:
    slot: int
    results: tuple[Result, ...]


@dataclasses.dataclass(frozen=True)
class Raised:
    slot: int
    index: int
    status: str  # LOAD_EXCEPTION | RUN_EXCEPTION | OUTPUT_EXCEPTION | NO_SPACE
    error: str
    elapsed: float
    run_s: float


@dataclasses.dataclass(frozen=True)
class InitFailed:
    slot: int
    error: str


@dataclasses.dataclass(frozen=True)
class Exited:
    slot: int
    startup_error: str = ""  # what to say should it have died before it was ready


# --- actions -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Kill:
    slot: int
    status: str  # RUN_TIMEOUT | LOAD_TIMEOUT
    limit: float  # the timeout it exceeded, seconds


@dataclasses.dataclass(frozen=True)
class Claim:
    n: int


@dataclasses.dataclass(frozen=True)
class Send:
    slot: int
    n: int  # mini-batches from the local queue, in order


@dataclasses.dataclass(frozen=True)
class Flush:
    pass


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    pass


@dataclasses.dataclass(frozen=True)
class AskFinal:
    pass


@dataclasses.dataclass(frozen=True)
class FailHead:
    slot: int
    status: str


@dataclasses.dataclass(frozen=True)
class Requeue:
    slot: int  # the rest of its mini-batches go back to the front of the local queue


@dataclasses.dataclass(frozen=True)
class Restart:
    slot: int


@dataclasses.dataclass(frozen=True)
class HandBack:
    """Flush outcomes, kill busy workers, release every unfinished lease unburnt, shut down."""


@dataclasses.dataclass(frozen=True)
class Wait:
    """Wait for I/O at most ``seconds``; the first ``nap`` of them without
    reading the workers' result lines (each has enough queued: reading every
    line as it comes woke the agent once per mini-batch)."""

    seconds: float
    nap: float = 0.0


@dataclasses.dataclass(frozen=True)
class MarkReady:
    slot: int


@dataclasses.dataclass(frozen=True)
class StartRun:
    slot: int
    items: int | None


@dataclasses.dataclass(frozen=True)
class Record:
    """Pop a head of ``slot`` per result, record each (report row: RUN_SHORT
    when it carries an error, else RUN_DONE; outcome to the queue), start the next head."""

    slot: int
    results: tuple[Result, ...]


@dataclasses.dataclass(frozen=True)
class FailAttempt:
    """Pop the head of ``slot``: the attempt failed (retryable: the queue decides); start the next head."""

    slot: int
    status: str
    error: str
    elapsed: float
    run_s: float


@dataclasses.dataclass(frozen=True)
class ReturnHead:
    """The head of ``slot`` goes back to the front of the local queue, unburnt; the next head starts."""

    slot: int


@dataclasses.dataclass(frozen=True)
class NoSpace:
    """The disk is full: stop, hand everything back, say why (exit diskfull.EXIT_NO_SPACE)."""

    error: str


@dataclasses.dataclass(frozen=True)
class InitFailure:
    """Note the failure and close the worker; ``fatal``: give up on this instance."""

    slot: int
    error: str
    fatal: bool


@dataclasses.dataclass(frozen=True)
class Close:
    slot: int


@dataclasses.dataclass(frozen=True)
class NoteIdleExit:
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
