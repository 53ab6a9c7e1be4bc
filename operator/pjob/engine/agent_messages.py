"""How an agent (``pjob.engine.agent.Agent``) handles what its worker
processes say and do: the result lines of ``pjob.engine.worker`` (data
loaded, done, failed, ready, init failed), a worker that exits, and the
init-failure rule. A mixin of ``Agent``: it uses the agent's state (slots,
report, coordinator outcomes) and its worker and coordinator methods.
"""

from __future__ import annotations

import json
import os
import signal
import time

from pjob.engine import diskfull, logtree, manifest, policy, slots
from pjob.queue import protocol


class WorkerMessages:
    def on_readable(self, w: slots.WorkerSlot) -> None:
        data = os.read(w.res_fd, 65536)
        if not data:
            self.on_worker_exit(w)
            return
        w.buf += data
        *lines, w.buf = w.buf.split(b"\n")
        fd = w.res_fd
        for line in lines:
            if w.res_fd != fd:  # the worker was replaced while handling an earlier message
                break
            self.on_message(w, json.loads(line))

    def on_message(self, w: slots.WorkerSlot, msg: list) -> None:
        kind = msg[0]
        now = time.monotonic()
        if kind == "S":
            w.phase, w.phase_started = "run", now
            w.loaded_items = msg[2] if len(msg) > 2 else None
        elif kind == "D":
            _, index, items, succeeded, failed, elapsed, run_s, error, warning = msg
            lease = w.queue.popleft()
            status = "RUN_SHORT" if error else "RUN_DONE"
            self.errors.record(index, lease.attempt, error)
            self.report.attempt(
                lease, w.proc, status, w.started_wall, items, succeeded, failed, elapsed, run_s, error or warning
            )
            self.queue_outcome(
                lease, protocol.Outcome(items=items, succeeded=succeeded, failed=failed, elapsed=elapsed, error=error)
            )
            self.mean_seconds = 0.9 * self.mean_seconds + 0.1 * elapsed if self.mean_seconds else elapsed
            self.activity.finished(elapsed)
            self.next_head(w, now)
        elif kind == "E":
            _, index, status, error, elapsed, run_s = msg
            if status == diskfull.NO_SPACE:  # not the mini-batch's fault: it goes back (stop), the job stops
                self.local.appendleft(w.queue.popleft())
                self.next_head(w, now)
                self.on_no_space(error)
                return
            self.fail_attempt(w, w.queue.popleft(), status, error, True, elapsed, run_s)
            self.next_head(w, now)
        elif kind == "ready":
            w.ready = True
            self.init_failures = 0
        elif kind == "initfail":
            self.on_init_failure(w, msg[1])

    def on_no_space(self, error: str) -> None:
        """A worker could not write its rows: stop, hand every lease back unburnt
        (``stop``), and say why; the same command resumes once space is freed."""
        self.fatal = self.fatal or f"[node {self.node}] {error.strip()}"
        self.no_space = self.stopping = True

    def next_head(self, w: slots.WorkerSlot, now: float) -> None:
        """The head of ``w``'s queue starts now: loading its data, or running
        at once when loading is trivial (the worker then sends no "S")."""
        trivial = bool(w.queue) and manifest.trivial_load(self.lines[w.queue[0].index])
        w.phase, w.phase_started, w.started_wall = ("run" if trivial else "load"), now, time.time()
        w.loaded_items = None

    def on_init_failure(self, w: slots.WorkerSlot, error: str) -> None:
        if self.fatal:  # already given up: a late failure of another worker changes nothing
            self.close_worker(w)
            return
        self.init_failures += 1
        self.report.note(w.proc, f"init() failed ({self.init_failures} consecutive on this node)\n{error}")
        self.close_worker(w)
        if policy.init_failures_exhausted(self.init_failures, len(self.slots)):
            self.fatal = (
                f"init() failed {self.init_failures} times in a row on node {self.node} "
                f"(limit 3 x max_concurrency_per_instance = {3 * len(self.slots)}): "
                f"{logtree.exception_summary(error)}\nlast error:\n{error}"
            )
            self.stopping = True
        elif not self.stopping:
            self.start_worker(w)

    def on_worker_exit(self, w: slots.WorkerSlot) -> None:
        code = w.popen.wait() if w.popen is not None else None
        why = _exit_description(code)
        if not w.ready:
            self.on_init_failure(
                w,
                f"[node {self.node} {w.proc}: start-up failed; see "
                f"{logtree.next_file_for('INIT_DIED', self.node, w.proc)}]\n"
                f"the worker process {why} during start-up/init()",
            )
            return
        if w.queue:
            lease = w.queue[0]
            error = (
                f"{logtree.attempt_header(self.node, w.proc, 'WORKER_DIED', lease.attempt)}\n"
                f"the worker process {why} while running mini-batch {lease.index}"
            )
            self.replace_worker(w, "WORKER_DIED", error)
        else:
            self.report.note(w.proc, f"idle worker {why}; starting a new one")
            self.close_worker(w)
            if not self.stopping:
                self.start_worker(w)


def _exit_description(code: int | None) -> str:
    if code is None:
        return "vanished"
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
