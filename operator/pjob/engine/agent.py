"""Agent: one per instance (a local process, or a pod). Starts
``max_concurrency_per_instance`` worker processes, claims mini-batches from the
coordinator in chunks, hands them to idle workers, enforces the load/run
timeouts by killing a worker and starting a fresh one (init runs again),
and reports outcomes to the coordinator in batches.

The coordinator is injected (``pjob.engine`` sits below ``pjob.coord``):
``pjob.local.agent`` passes a ``SqliteCoordinator``, the Kubernetes agent its
own backend; ``outcome_type`` is ``pjob.coord.base.Outcome``. It may also be a
zero-argument callable (``connect``) returning the coordinator, or None when
the agent should stop: it is called after the workers were started, so their
start-up and init() overlap the driver's planning.

Nothing bulky passes through here: a worker gets ``<attempt> <descriptor
line>`` and answers with a small record (see ``pjob.engine.worker``).
"""

from __future__ import annotations

import collections
import json
import os
import select
import selectors
import signal
import subprocess
import time

from pjob.engine import (activity, agent_messages, capacity, diskfull, errorlog, logtree, manifest, monitor, policy,
                         procs, report, results, slots)

EXIT_OK, EXIT_FATAL = 0, 3
FLUSH_SECONDS = 0.05  # longest an outcome waits before it is sent to the coordinator
FLUSH_COUNT = 256
SHUTDOWN_GRACE = 10.0  # seconds a worker gets to run shutdown() and exit


class Agent(agent_messages.WorkerMessages):
    def __init__(self, task, node: int, coordinator, outcome_type, agent_id: str, control_fd: int | None = None):
        self.task = task
        self.node = str(node)
        self.coord = coordinator
        self.outcome_type = outcome_type
        self.agent_id = agent_id
        self.control_fd = control_fd
        self.limits = policy.limits_for(task)
        self.logs = logtree.LogTree(task.logs_dir)
        self.parts_dir = os.path.join(task.work_dir, "parts")
        self.task_file = os.path.join(task.work_dir, "task.json")
        self.lines: list[bytes] = []
        self.adoptable: dict = {}
        self.local: collections.deque = collections.deque()  # claimed, not yet sent
        self.pending_outcomes: list = []
        self.first_pending_outcome = 0.0
        self.slots = [slots.WorkerSlot(i) for i in range(max(1, task.max_concurrency_per_instance))]
        self.sel = selectors.DefaultSelector()
        self.stopping = False
        self.fatal: str | None = None
        self.no_space = False  # stopped because the disk is full (exit diskfull.EXIT_NO_SPACE)
        self.init_failures = 0
        self.finished_count = 0
        self.started = time.monotonic()
        self.mean_seconds = 0.0
        self.nothing_to_claim = False
        self.report = report.AgentReport(task, self.node)
        self.errors = errorlog.ErrorLog(task.work_dir, self.node)  # every failed attempt's full error
        self.monitor = monitor.Monitor(self.logs.perf(self.node), task.flags.resource_monitor_interval, task.work_dir)
        self.activity = activity.Activity(task.work_dir, self.node)  # what each worker does, for displays

    # --- worker processes ---------------------------------------------------------------

    def start_worker(self, w: slots.WorkerSlot) -> None:
        w.start(self.task, self.task_file, self.node, self.logs, _host_env(self.task, w.slot))
        self.activity.started(w.slot)
        self.sel.register(w.res_fd, selectors.EVENT_READ, w)

    def kill_worker(self, w: slots.WorkerSlot) -> None:
        w.kill()
        self.close_worker(w)

    def close_worker(self, w: slots.WorkerSlot) -> None:
        if w.res_fd >= 0:
            self.sel.unregister(w.res_fd)
        w.close()

    def replace_worker(self, w: slots.WorkerSlot, status: str, error: str) -> None:
        """The head mini-batch failed with the worker (timeout, death): fail its
        lease, give the rest back to the local queue, start a fresh worker."""
        if w.queue:
            lease = w.queue.popleft()
            self.fail_attempt(w, lease, status, error, retryable=True)
        while w.queue:
            self.local.appendleft(w.queue.pop())
        self.close_worker(w)
        if not self.stopping:
            self.start_worker(w)

    # --- coordinator --------------------------------------------------------------------

    def claim(self) -> None:
        held = len(self.local) + sum(len(w.queue) for w in self.slots)
        elapsed = max(1e-3, time.monotonic() - self.started)
        n = policy.claim_size(held, len(self.slots), self.finished_count / elapsed)
        if n <= 0 or (held >= len(self.slots) and held > n):
            return  # still enough work in hand: claim when below half the target
        leases = self.coord.claim(self.agent_id, n)
        self.nothing_to_claim = not leases
        for lease in leases:
            if lease.index in self.adoptable:
                self.adopt(lease)
            else:
                self.local.append(lease)

    def adopt(self, lease) -> None:
        """A record committed by an interrupted earlier run: report it, do not run it again."""
        ref = self.adoptable.pop(lease.index)
        items, succeeded, failed = ref.items, ref.succeeded, ref.failed
        error = policy.count_returns(items, succeeded).error if failed else None
        self.report.attempt(lease, "-", "ADOPTED", time.time(), items, succeeded, failed, 0.0, 0.0, error)
        self.queue_outcome(lease, self.outcome_type(items=items, succeeded=succeeded, failed=failed, error=error))

    def queue_outcome(self, lease, outcome) -> None:
        if not self.pending_outcomes:
            self.first_pending_outcome = time.monotonic()
        self.pending_outcomes.append((lease, outcome))
        self.finished_count += 1
        if len(self.pending_outcomes) >= FLUSH_COUNT:
            self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        if self.pending_outcomes and (force or time.monotonic() - self.first_pending_outcome >= FLUSH_SECONDS):
            batch, self.pending_outcomes = self.pending_outcomes, []
            self.report.flush_rows()  # rows first: an attempt the queue knows is in the job report
            self.coord.complete_many(batch)

    def fail_attempt(self, w: slots.WorkerSlot, lease, status: str, error: str, retryable: bool,
                     elapsed: float | None = None, run_s: float = 0.0) -> None:
        if elapsed is None:
            elapsed = time.monotonic() - w.phase_started
        self.flush(force=True)
        loaded = w.loaded_items  # the items the worker read, when it got that far (planned counts may be estimates)
        items = _items_of(self.lines[lease.index]) if loaded is None else loaded
        self.report.attempt(lease, w.proc, status, w.started_wall, items, 0, items, elapsed, run_s, error)
        self.report.flush_rows()  # before the queue hears of it: a kill -9 then loses neither
        self.errors.record(lease.index, lease.attempt, error)
        self.coord.fail(lease, error, retryable, items=loaded)
        self.finished_count += 1
        self.activity.finished(elapsed)

    # --- scheduling ----------------------------------------------------------------------

    def dispatch(self, now: float) -> None:
        """Top up every ready worker's queue (one write per worker)."""
        depth = policy.queue_depth(self.mean_seconds)
        for w in self.slots:
            if not w.ready or not self.local or len(w.queue) >= depth:
                continue
            sent = []
            while self.local and len(w.queue) < depth:
                lease = self.local.popleft()
                w.queue.append(lease)
                sent.append(b"%d %s\n" % (lease.attempt, self.lines[lease.index]))
                if len(w.queue) == 1:
                    self.next_head(w, now)
            try:
                w.send(b"".join(sent))
            except OSError:  # the worker died; its EOF is handled as a death
                for _ in sent:
                    self.local.appendleft(w.queue.pop())
                self.on_worker_exit(w)

    def check_timeouts(self, now: float) -> float:
        """Kill workers past their deadline; return the next deadline."""
        next_deadline = now + 1.0
        for w in self.slots:
            if not w.queue or not w.ready:
                continue
            deadline = policy.phase_deadline(w.phase, w.phase_started, self.limits)
            if now >= deadline:
                status = "RUN_TIMEOUT" if w.phase == "run" else "LOAD_TIMEOUT"
                limit = self.limits.timeout if w.phase == "run" else self.limits.task_overhead_timeout
                lease = w.queue[0]
                error = (f"{logtree.attempt_header(self.node, w.proc, status, lease.attempt)}\n"
                         f"mini-batch {lease.index} exceeded the {'run() timeout' if w.phase == 'run' else '--task_overhead_timeout'}"
                         f" of {limit:g}s; the worker was killed and replaced (init() runs again)")
                w.kill()
                w.popen.wait()
                self.replace_worker(w, status, error)
            else:
                next_deadline = min(next_deadline, deadline)
        return next_deadline

    def reap_dead_workers(self) -> None:
        """A worker whose pipe stays open after it died (its own children
        inherited the pipe) is noticed here rather than at the run timeout."""
        for w in self.slots:
            if w.res_fd >= 0 and w.popen is not None and w.popen.poll() is not None:
                fd = w.res_fd
                while w.res_fd == fd and select.select([fd], [], [], 0)[0]:
                    self.on_readable(w)  # what it reported before dying counts; EOF replaces it
                if w.res_fd == fd:  # its pipe is still held open by its own children
                    self.on_worker_exit(w)

    def all_final(self) -> bool:
        p = self.coord.counters()
        return p.pending == 0 and p.leased == 0

    def idle_but_outcomes(self) -> bool:
        """Nothing in hand but outcomes: send them now, there is nothing to batch with."""
        return not self.local and not any(w.queue for w in self.slots)

    def idle(self) -> bool:
        return not self.local and not any(w.queue for w in self.slots) and not self.pending_outcomes

    def run(self) -> int:
        """Run until the queue is final or we are told to stop. The agent owns
        its process: it adopts what workers leave behind (``procs``) and stops
        all of it before returning, so nothing an entry script started outlives it."""
        procs.become_subreaper()
        try:
            return self._loop()
        except BaseException as exc:
            for w in self.slots:  # never leave orphan workers behind
                w.kill()
            if not diskfull.is_disk_full(exc):
                self.report.close()
                self.errors.close()
                raise
            # the disk is full (a log, a report row, the queue): the driver fails the job saying so;
            # leases still held go back to the queue when the step runs again
            _try_write_fatal(self.task.work_dir, self.node, f"[node {self.node}] {diskfull.message(exc, self.task.work_dir)}")
            return diskfull.EXIT_NO_SPACE
        finally:
            strays = procs.stop_strays()
            if strays:
                try:
                    print(f"stopped {len(strays)} process(es) left behind by workers: pids {strays}", flush=True)
                except OSError:  # the agent's log is on a full disk
                    pass

    def _loop(self) -> int:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if self.control_fd is not None:
            self.sel.register(self.control_fd, selectors.EVENT_READ, None)
        early = capacity.early_workers(len(self.slots), capacity.cpus(), self.task.instance_count,
                                       manifest.planned_count(self.task.work_dir))
        for w in self.slots[:early]:
            self.start_worker(w)  # the rest once the queue says how many mini-batches are left
        if not hasattr(self.coord, "claim"):  # a connect callable: wait for the queue
            self.coord = self.coord()
            if self.coord is None:
                self.stopping = True
        if not self.stopping:
            _, self.lines = manifest.read_header_and_lines(manifest.path_in(self.task.work_dir))
            self.adoptable = results.scan(self.parts_dir)  # records committed by an interrupted run
            self.fit_workers()
        last_heartbeat = last_reap = time.monotonic()
        while not self.stopping:
            now = time.monotonic()
            if now - last_reap >= 1.0:
                self.reap_dead_workers()
                last_reap = now
            if any(w.ready for w in self.slots):
                self.claim()
                self.dispatch(now)
            self.flush(force=self.idle_but_outcomes())
            if now - last_heartbeat > 5.0:
                self.coord.heartbeat(self.agent_id)
                self.report.flush()
                last_heartbeat = now
            self.monitor.maybe_sample(now)
            self.activity.update(self.slots, now)
            if self.idle() and self.nothing_to_claim and self.all_final():
                break
            timeout = self.check_timeouts(now) - now
            if self.pending_outcomes:
                timeout = min(timeout, FLUSH_SECONDS)
            if self.idle():
                timeout = min(timeout, 0.1)
            for key, _ in self.sel.select(max(0.0, timeout)):
                if key.data is None:
                    self.on_control()
                else:
                    self.on_readable(key.data)
            self.check_timeouts(time.monotonic())
        self.stop()
        if self.no_space:
            return diskfull.EXIT_NO_SPACE
        return EXIT_FATAL if self.fatal else EXIT_OK

    def fit_workers(self) -> None:
        """As many workers as ``max_concurrency_per_instance`` asks, but never
        more than the mini-batches this instance can get: 100000 workers for
        10 mini-batches would all run init() before any work, and hang."""
        p = self.coord.counters()
        needed = capacity.workers_to_start(len(self.slots), p.pending + p.leased, self.task.instance_count)
        for w in self.slots[needed:]:
            if w.popen is not None:
                self.kill_worker(w)
        self.slots = self.slots[:needed]
        for w in self.slots:
            if w.popen is None:
                self.start_worker(w)

    def on_control(self) -> None:
        if not os.read(self.control_fd, 4096):  # EOF: the driver closed the pipe or died
            self.sel.unregister(self.control_fd)
            self.control_fd = None
            self.stopping = True

    def _on_sigterm(self, signum, frame) -> None:
        self.stopping = True

    def stop(self) -> None:
        """Record what finished, hand back what did not, let idle workers run shutdown()."""
        self.flush(force=True)
        for w in self.slots:
            if w.queue:  # interrupted mid-run: kill, hand the mini-batches back unburnt
                self.kill_worker(w)
                self.local.extend(w.queue)
                w.queue.clear()
        for lease in self.local:
            self.coord.release(lease)  # only leases from a connected coordinator are ever held
        self.local.clear()
        for w in self.slots:
            if w.cmd_fd >= 0:
                try:
                    w.send(b"Q\n")
                except OSError:
                    pass
        deadline = time.monotonic() + SHUTDOWN_GRACE
        for w in self.slots:
            if w.popen is not None and w.res_fd >= 0:
                try:
                    w.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.report.note(w.proc, "shutdown() did not finish in time; worker killed")
                self.kill_worker(w)
        self.report.close()
        self.errors.close()
        self.activity.update(self.slots, time.monotonic(), force=True)
        if self.fatal:
            _try_write_fatal(self.task.work_dir, self.node, self.fatal)


def _try_write_fatal(work_dir: str, node: str, text: str) -> None:
    try:
        report.write_fatal(work_dir, node, text)
    except OSError:  # a full disk: the exit code still tells the driver
        pass


def _host_env(task, slot: int) -> dict[str, str]:
    from pjob.engine import host  # imports azureml_user only; cheap

    return host.worker_environment(task, dict(os.environ), slot)


def _items_of(line: bytes) -> int:
    return int(json.loads(line).get("items", 0))

