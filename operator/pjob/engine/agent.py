"""Agent: one per instance (a local process, or a pod). Starts
``max_concurrency_per_instance`` worker processes, claims mini-batches from the
coordinator in chunks, hands them to idle workers, enforces the load/run
timeouts by killing a worker and starting a fresh one (init runs again),
and reports outcomes to the coordinator in batches.

The agent is an I/O shell around ``pjob.engine.agent_machine``: each turn it
takes a snapshot of its workers and queues, asks ``agent_machine.handle`` what
to do (claim, dispatch, kill on timeout, retry, hand back, stop) and does it.

The coordinator is injected, typed against ``pjob.queue.protocol.Coordinator``
(below ``pjob.engine``): ``pjob.local.launch`` passes a ``SqliteCoordinator``,
the Kubernetes agent its own backend. It may also be a zero-argument callable
(``connect``) returning the coordinator, or None when the agent should stop:
it is called after the workers were started, so their start-up and init()
overlap the driver's planning; a coordinator the agent connected it closes.
The agent talks to it through ``pjob.queue.batching.Batcher``, the one
batching layer (claim-ahead, write-behind outcomes, as the backend's
``batching`` settings say).

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
import types
from collections.abc import Callable

from pjob.engine import (
    activity,
    agent_machine,
    agent_messages,
    agent_workers,
    capacity,
    diskfull,
    errorlog,
    logtree,
    manifest,
    monitor,
    policy,
    procs,
    report,
    results,
    slots,
)
from pjob.engine.task import ParallelTask
from pjob.queue import batching, protocol

EXIT_OK, EXIT_FATAL = 0, 3
SHUTDOWN_GRACE = 10.0  # seconds a worker gets to run shutdown() and exit


class Agent(agent_workers.WorkerProcesses, agent_messages.WorkerMessages):
    def __init__(
        self,
        task: ParallelTask,
        node: int,
        coordinator: protocol.Coordinator | Callable[[], protocol.Coordinator | None],
        agent_id: str = "",
        control_fd: int | None = None,
    ):
        self.task = task
        self.node = str(node)
        self.connect = coordinator if callable(coordinator) else None  # a coordinator is not callable
        self.coord: protocol.Coordinator | None = None if callable(coordinator) else coordinator
        self.queue: batching.Batcher | None = None  # the agent's side of the queue, once connected
        self.agent_id = agent_id
        self.control_fd = control_fd
        self.limits = policy.limits_for(task)
        self.logs = logtree.LogTree(task.logs_dir)
        self.parts_dir = results.parts_dir(task.work_dir)
        self.task_file = os.path.join(task.work_dir, "task.json")
        self.lines: list[bytes] = []
        self.adoptable: dict[int, results.RecordRef] = {}
        self.local: collections.deque[protocol.Lease] = collections.deque()  # claimed, not yet sent
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
        self.queue_short = False  # the last claim got fewer than it asked for: the work is running out
        self.last_heartbeat = 0.0
        self.nap_seconds = 0.0  # of the next wait (agent_machine.Wait.nap)
        self.report = report.AgentReport(task, self.node)
        self.errors = errorlog.ErrorLog(task.work_dir, self.node)  # every failed attempt's full error
        self.monitor = monitor.Monitor(self.logs.perf(self.node), task.flags.resource_monitor_interval, task.work_dir)
        self.activity = activity.Activity(task.work_dir, self.node)  # what each worker does, for displays

    # --- coordinator --------------------------------------------------------------------

    def snapshot(self, now: float) -> agent_machine.State:
        """What ``agent_machine.handle`` decides on: plain values, no I/O."""
        return agent_machine.State(
            workers=tuple(
                agent_machine.Worker(w.slot, w.ready, len(w.queue), w.phase, w.phase_started) for w in self.slots
            ),
            local=len(self.local),
            outcomes=len(self.queue.reports) if self.queue else 0,
            oldest_outcome=self.queue.first_report_at if self.queue else 0.0,
            batching=self.queue.settings if self.queue else protocol.Batching(),
            rate=self.finished_count / max(1e-3, now - self.started),
            mean_seconds=self.mean_seconds,
            limits=self.limits,
            stopping=self.stopping,
            nothing_to_claim=self.nothing_to_claim,
            queue_short=self.queue_short,
            last_heartbeat=self.last_heartbeat,
            init_failures=self.init_failures,
            fatal=self.fatal is not None,
        )

    def turn(self, now: float) -> float | None:
        """One turn of the loop: execute what ``agent_machine`` decides on a
        ``Tick``. Returns how long to wait for I/O (the first ``nap_seconds``
        of it without reading workers), or None to stop."""
        self.nap_seconds = 0.0
        return self.execute(agent_machine.handle(self.snapshot(now), agent_machine.Tick(now)), now)

    def execute(self, actions: list[agent_machine.Action], now: float) -> float | None:
        """Do ``actions`` in order (a SIGTERM may set ``stopping`` between any
        two: the next decision then is ``HandBack``). None: stop."""
        wait = 0.0
        for action in actions:
            if isinstance(action, agent_machine.Kill):
                self.kill_for_timeout(action)
            elif isinstance(action, agent_machine.Claim):
                self.claim(action.n)
                if self.execute(agent_machine.handle(self.snapshot(now), agent_machine.Claimed(now)), now) is None:
                    return None
            elif isinstance(action, agent_machine.Send):
                self.send(action, now)
            elif isinstance(action, agent_machine.Flush):
                self.flush()
            elif isinstance(action, agent_machine.Heartbeat):
                self.batcher().heartbeat(self.agent_id)
                self.report.flush()
                self.last_heartbeat = now
            elif isinstance(action, agent_machine.AskFinal):
                if agent_machine.handle(self.snapshot(now), agent_machine.QueueFinal(self.all_final())):
                    return None
            elif isinstance(action, agent_machine.HandBack):
                return None
            elif isinstance(action, agent_machine.Wait):
                wait, self.nap_seconds = action.seconds, action.nap
            else:
                self.on_worker_action(action, now)
        return wait

    def claim(self, n: int) -> None:
        leases = self.batcher().claim(self.agent_id, n)
        self.nothing_to_claim = not leases
        self.queue_short = len(leases) < n
        for lease in leases:
            if lease.index in self.adoptable:
                self.adopt(lease)
            else:
                self.local.append(lease)

    def adopt(self, lease: protocol.Lease) -> None:
        """A record committed by an interrupted earlier run: report it, do not run it again."""
        ref = self.adoptable.pop(lease.index)
        items, succeeded, failed = ref.items, ref.succeeded, ref.failed
        error = policy.count_returns(items, succeeded).error if failed else None
        self.report.attempt(lease, "-", "ADOPTED", time.time(), items, succeeded, failed, 0.0, 0.0, error)
        self.queue_outcome(lease, protocol.Outcome(items=items, succeeded=succeeded, failed=failed, error=error))

    def batcher(self) -> batching.Batcher:
        if self.queue is None:
            raise RuntimeError("the agent is not connected to its queue")
        return self.queue

    def queue_outcome(self, lease: protocol.Lease, outcome: protocol.Outcome) -> None:
        self.batcher().complete(lease, outcome)  # buffered; written as the backend's batching says
        self.finished_count += 1

    def flush(self) -> None:
        if self.queue is not None:
            self.queue.flush()  # report rows first (the Batcher's before_write)

    def fail_attempt(
        self,
        w: slots.WorkerSlot,
        lease: protocol.Lease,
        status: str,
        error: str,
        retryable: bool,
        elapsed: float | None = None,
        run_s: float = 0.0,
    ) -> None:
        if elapsed is None:
            elapsed = time.monotonic() - w.phase_started
        loaded = w.loaded_items  # the items the worker read, when it got that far (planned counts may be estimates)
        items = _items_of(self.lines[lease.index]) if loaded is None else loaded
        self.report.attempt(lease, w.proc, status, w.started_wall, items, 0, items, elapsed, run_s, error)
        self.errors.record(lease.index, lease.attempt, error)
        self.batcher().fail(lease, error, retryable, items=loaded)  # report rows go first (before_write)
        self.finished_count += 1
        self.activity.finished(elapsed)

    # --- scheduling ----------------------------------------------------------------------

    def all_final(self) -> bool:
        p = self.batcher().counters()
        return p.pending == 0 and p.leased == 0

    def run(self) -> int:
        """Run until the queue is final or we are told to stop. The agent owns
        its process: it adopts what workers leave behind (``procs``) and stops
        all of it before returning, so nothing an entry script started outlives it."""
        procs.become_subreaper()
        try:
            profile_dir = os.environ.get("PJOB_AGENT_PROFILE")  # a cProfile of this agent, for benchmarks
            if profile_dir:
                import cProfile

                with cProfile.Profile() as prof:
                    try:
                        return self._loop()
                    finally:
                        prof.dump_stats(os.path.join(profile_dir, f"agent-{self.node}-{os.getpid()}.prof"))
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
            _try_write_fatal(
                self.task.work_dir, self.node, f"[node {self.node}] {diskfull.message(exc, self.task.work_dir)}"
            )
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
        early = capacity.early_workers(
            len(self.slots), capacity.cpus(), self.task.instance_count, manifest.planned_count(self.task.work_dir)
        )
        for w in self.slots[:early]:
            self.start_worker(w)  # the rest once the queue says how many mini-batches are left
        if self.connect is not None:  # wait for the queue
            self.coord = self.connect()
            if self.coord is None:
                self.stopping = True
        if self.coord is not None:
            self.queue = batching.Batcher(self.coord, self.agent_id, before_write=self.report.flush_rows)
        if not self.stopping:
            _, self.lines = manifest.read_header_and_lines(manifest.path_in(self.task.work_dir))
            self.adoptable = results.scan(self.parts_dir)  # records committed by an interrupted run
            self.fit_workers()
        self.last_heartbeat = last_reap = looping_since = time.monotonic()
        while not self.stopping:  # the I/O shell: agent_machine decides, this executes and feeds events
            now = time.monotonic()
            if now - last_reap >= 1.0:
                self.reap_dead_workers()
                last_reap = now
            timeout = self.turn(now)
            if timeout is None:
                break
            self.activity.update(self.slots, now)
            if agent_machine.sample_due(now, looping_since, any(w.queue for w in self.slots)):
                self.monitor.maybe_sample(now)
            if self.nap_seconds > 0:  # the workers have enough queued: their lines wait in the pipes
                self.nap(self.nap_seconds)
                timeout = max(0.0, timeout - self.nap_seconds)
            for key, _ in self.sel.select(timeout):
                if key.data is None:
                    self.on_control()
                else:
                    self.on_readable(key.data)
        self.stop()
        if self.no_space:
            return diskfull.EXIT_NO_SPACE
        return EXIT_FATAL if self.fatal else EXIT_OK

    def nap(self, seconds: float) -> None:
        """Sleep ``seconds``, woken only by the driver's control pipe."""
        if self.control_fd is None:
            time.sleep(seconds)
        elif select.select([self.control_fd], [], [], seconds)[0]:
            self.on_control()

    def on_control(self) -> None:
        if self.control_fd is None:
            return
        if not os.read(self.control_fd, 4096):  # EOF: the driver closed the pipe or died
            self.sel.unregister(self.control_fd)
            self.control_fd = None
            self.stopping = True

    def _on_sigterm(self, signum: int, frame: types.FrameType | None) -> None:
        self.stopping = True

    def stop(self) -> None:
        """Record what finished, hand back what did not, let idle workers run shutdown()."""
        self.flush()
        for w in self.slots:
            if w.queue:  # interrupted mid-run: kill, hand the mini-batches back unburnt
                self.kill_worker(w)
                self.local.extend(w.queue)
                w.queue.clear()
        if self.queue is not None:  # only leases from a connected coordinator are ever held
            for lease in self.local:
                self.queue.release(lease)
            self.queue.finish()  # the reservoir goes back unburnt, the buffer is written
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
        if self.connect is not None and self.coord is not None:
            self.coord.close()  # connected here: closed here
        self.activity.update(self.slots, time.monotonic(), force=True)
        if self.fatal:
            _try_write_fatal(self.task.work_dir, self.node, self.fatal)


def _try_write_fatal(work_dir: str, node: str, text: str) -> None:
    try:
        report.write_fatal(work_dir, node, text)
    except OSError:  # a full disk: the exit code still tells the driver
        pass


def _items_of(line: bytes) -> int:
    return int(json.loads(line).get("items", 0))
