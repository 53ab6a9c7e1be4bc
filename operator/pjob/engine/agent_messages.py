"""What an agent's workers say and do, as events of ``pjob.engine.agent_machine``:
the result lines of ``pjob.engine.worker`` (data loaded, done, failed,
ready, init failed) and a worker whose pipe closes are parsed into events
(``Finished`` carries every "D" line of one read), ``agent_machine.handle``
decides, and the actions are executed here (report rows, outcomes to the
queue's batching layer, the next head, a fresh worker, ...). A mixin of
``Agent``: it uses the agent's state (slots, report, queue) and its worker
methods; nothing here decides.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from pjob.engine import activity, errorlog, logtree, manifest, policy
from pjob.engine import agent_machine as am
from pjob.engine import report as report_mod
from pjob.engine.slots import WorkerSlot
from pjob.queue import batching, protocol

_loads = json.loads


class WorkerMessages:
    # what it uses of its host, ``pjob.engine.agent.Agent``
    node: str
    slots: list[WorkerSlot]
    local: collections.deque[protocol.Lease]
    lines: list[bytes]
    limits: policy.Limits
    report: report_mod.AgentReport
    errors: errorlog.ErrorLog
    activity: activity.Activity
    fatal: str | None
    no_space: bool
    stopping: bool
    init_failures: int
    finished_count: int
    mean_seconds: float

    if TYPE_CHECKING:

        def slot_of(self, slot: int) -> WorkerSlot: ...
        def snapshot(self, now: float) -> am.State: ...
        def execute(self, actions: list[am.Action], now: float) -> float | None: ...
        def batcher(self) -> batching.Batcher: ...
        def start_worker(self, w: WorkerSlot) -> None: ...
        def close_worker(self, w: WorkerSlot) -> None: ...
        def fail_attempt(
            self,
            w: WorkerSlot,
            lease: protocol.Lease,
            status: str,
            error: str,
            retryable: bool,
            elapsed: float | None = None,
            run_s: float = 0.0,
        ) -> None: ...

    def on_readable(self, w: WorkerSlot) -> None:
        data = os.read(w.res_fd, 65536)
        if not data:
            self.on_worker_exit(w)
            return
        w.buf += data
        *lines, w.buf = w.buf.split(b"\n")
        fd = w.res_fd
        done: list[bytes] = []
        for line in lines:
            if w.res_fd != fd:  # the worker was replaced while handling an earlier message
                return
            if line.startswith(b'["D"'):  # the common case: gathered, parsed at once, one event for the lot
                done.append(line)
                continue
            if done:
                self.feed(_finished(w.slot, done))
                done = []
                if w.res_fd != fd:
                    return
            self.feed(_event(w.slot, _loads(line.decode())))
        if done and w.res_fd == fd:
            self.feed(_finished(w.slot, done))

    def feed(self, event: am.Event) -> None:
        """``event`` through ``agent_machine.handle``; its actions executed."""
        now = time.monotonic()
        self.execute(am.handle(self.snapshot(now), event), now)

    def on_worker_exit(self, w: WorkerSlot) -> None:
        startup_error = ""
        if not w.ready:
            code = w.popen.wait() if w.popen is not None else None
            startup_error = (
                f"[node {self.node} {w.proc}: start-up failed; see "
                f"{logtree.next_file_for('INIT_DIED', self.node, w.proc)}]\n"
                f"the worker process {_exit_description(code)} during start-up/init()"
            )
        self.feed(am.Exited(w.slot, startup_error))

    # --- actions about one worker ----------------------------------------------------------

    def on_worker_action(self, action: am.Action, now: float) -> None:
        match action:
            case am.Record(slot, results):
                self.record(self.slot_of(slot), results, now)
            case am.StartRun(slot, items):
                w = self.slot_of(slot)
                w.phase, w.phase_started, w.loaded_items = "run", now, items
            case am.MarkReady(slot):
                self.slot_of(slot).ready = True
                self.init_failures = 0
            case am.FailAttempt(slot, status, error, elapsed, run_s):
                w = self.slot_of(slot)
                self.fail_attempt(w, w.queue.popleft(), status, error, True, elapsed, run_s)
                self.next_head(w, now)
            case am.ReturnHead(slot):
                w = self.slot_of(slot)
                self.local.appendleft(w.queue.popleft())
                self.next_head(w, now)
            case am.NoSpace(error):
                self.on_no_space(error)
            case am.InitFailure():
                self.on_init_failure(self.slot_of(action.slot), action)
            case am.Close(slot):
                self.close_worker(self.slot_of(slot))
            case am.NoteIdleExit(slot):
                w = self.slot_of(slot)
                code = w.popen.wait() if w.popen is not None else None
                self.report.note(w.proc, f"idle worker {_exit_description(code)}; starting a new one")
            case am.FailHead(slot, status):
                w = self.slot_of(slot)
                if w.queue:
                    error = self.lost_error(w, status)  # says which mini-batch: before the head is popped
                    self.fail_attempt(w, w.queue.popleft(), status, error, True)
            case am.Requeue(slot):
                w = self.slot_of(slot)
                while w.queue:
                    self.local.appendleft(w.queue.pop())
                self.close_worker(w)
            case am.Restart(slot):
                self.start_worker(self.slot_of(slot))
            case _:
                raise TypeError(f"not a worker action: {action!r}")

    def record(self, w: WorkerSlot, results: tuple[am.Result, ...], now: float) -> None:
        """``agent_machine.Record``: each result is its head's; rows, error log, outcomes in bulk."""
        done = []
        mean, proc, started = self.mean_seconds, w.proc, w.started_wall
        # bound once: this runs once per mini-batch
        head, attempt, finished, outcome, clock = (
            w.queue.popleft,
            self.report.attempt,
            self.activity.finished,
            protocol.Outcome,
            time.time,
        )
        for index, items, succeeded, failed, elapsed, run_s, error, warning in results:
            lease = head()
            if error:
                self.errors.record(index, lease.attempt, error)
            status = "RUN_SHORT" if error else "RUN_DONE"
            attempt(lease, proc, status, started, items, succeeded, failed, elapsed, run_s, error or warning)
            done.append((lease, outcome(items, succeeded, failed, elapsed, error)))
            mean = 0.9 * mean + 0.1 * elapsed if mean else elapsed
            finished(elapsed)
            started = clock()  # the next one started when this one's line was written: close enough
        self.mean_seconds = mean
        self.finished_count += len(done)
        self.batcher().complete_many(done)  # buffered; written as the backend's batching says
        self.next_head(w, now)

    def lost_error(self, w: WorkerSlot, status: str) -> str:
        """What to say of the head of a worker that died or was killed."""
        lease = w.queue[0]
        header = logtree.attempt_header(self.node, w.proc, status, lease.attempt)
        if status == "WORKER_DIED":
            code = w.popen.wait() if w.popen is not None else None
            return f"{header}\nthe worker process {_exit_description(code)} while running mini-batch {lease.index}"
        what = "run() timeout" if status == "RUN_TIMEOUT" else "--task_overhead_timeout"
        limit = self.limits.timeout if status == "RUN_TIMEOUT" else self.limits.task_overhead_timeout
        return (
            f"{header}\nmini-batch {lease.index} exceeded the {what} of {limit:g}s; the worker was killed and "
            "replaced (init() runs again)"
        )

    def on_no_space(self, error: str) -> None:
        """A worker could not write its rows: stop, hand every lease back unburnt
        (``stop``), and say why; the same command resumes once space is freed."""
        self.fatal = self.fatal or f"[node {self.node}] {error.strip()}"
        self.no_space = self.stopping = True

    def next_head(self, w: WorkerSlot, now: float) -> None:
        """The head of ``w``'s queue starts now: loading its data, or running
        at once when loading is trivial (the worker then sends no "S")."""
        trivial = bool(w.queue) and manifest.trivial_load(self.lines[w.queue[0].index])
        w.phase, w.phase_started, w.started_wall = ("run" if trivial else "load"), now, time.time()
        w.loaded_items = None

    def on_init_failure(self, w: WorkerSlot, action: am.InitFailure) -> None:
        self.init_failures += 1
        self.report.note(w.proc, f"init() failed ({self.init_failures} consecutive on this node)\n{action.error}")
        self.close_worker(w)
        if action.fatal:
            self.fatal = (
                f"init() failed {self.init_failures} times in a row on node {self.node} "
                f"(limit 3 x max_concurrency_per_instance = {3 * len(self.slots)}): "
                f"{logtree.exception_summary(action.error)}\nlast error:\n{action.error}"
            )
            self.stopping = True


def _finished(slot: int, lines: list[bytes]) -> am.Finished:
    """Consecutive "D" lines, parsed as one JSON array (one call, not one per line)."""
    Result = am.Result
    return am.Finished(slot, tuple(Result(*msg[1:]) for msg in _loads(b"[%s]" % b",".join(lines))))


def _event(slot: int, msg: list[Any]) -> am.Event:
    kind = msg[0]
    if kind == "S":
        return am.Loaded(slot, msg[2] if len(msg) > 2 else None)
    if kind == "E":
        _, index, status, error, elapsed, run_s = msg
        return am.Raised(slot, index, status, error, elapsed, run_s)
    if kind == "ready":
        return am.Ready(slot)
    if kind == "initfail":
        return am.InitFailed(slot, msg[1])
    if kind == "D":
        _, index, items, succeeded, failed, elapsed, run_s, error, warning = msg
        return am.Finished(slot, (am.Result(index, items, succeeded, failed, elapsed, run_s, error, warning),))
    raise ValueError(f"unknown worker message {msg!r}")


def _exit_description(code: int | None) -> str:
    if code is None:
        return "vanished"
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
