"""The worker processes of an agent (``pjob.engine.agent.Agent``, a mixin):
start, kill, close and replace them, write mini-batches to their pipes
(``agent_machine.Send``), kill those past their deadline (then
``agent_machine.WorkerLost`` decides), notice a worker that died with its
pipe held open, and fit their number to the work there is.
"""

from __future__ import annotations

import collections
import os
import select
import selectors
from typing import TYPE_CHECKING

from pjob.engine import activity, agent_machine, capacity, logtree
from pjob.engine.slots import WorkerSlot
from pjob.engine.task import ParallelTask
from pjob.queue import batching, protocol


class WorkerProcesses:
    # what it uses of its host, ``pjob.engine.agent.Agent``
    task: ParallelTask
    task_file: str
    node: str
    logs: logtree.LogTree
    activity: activity.Activity
    sel: selectors.BaseSelector
    slots: list[WorkerSlot]
    local: collections.deque[protocol.Lease]
    lines: list[bytes]

    if TYPE_CHECKING:

        def feed(self, event: agent_machine.Event) -> None: ...
        def next_head(self, w: WorkerSlot, now: float) -> None: ...
        def on_readable(self, w: WorkerSlot) -> None: ...
        def on_worker_exit(self, w: WorkerSlot) -> None: ...
        def batcher(self) -> batching.Batcher: ...

    def start_worker(self, w: WorkerSlot) -> None:
        w.start(self.task, self.task_file, self.node, self.logs, _host_env(self.task, w.slot))
        self.activity.started(w.slot)
        self.sel.register(w.res_fd, selectors.EVENT_READ, w)

    def kill_worker(self, w: WorkerSlot) -> None:
        w.kill()
        self.close_worker(w)

    def close_worker(self, w: WorkerSlot) -> None:
        if w.res_fd >= 0:
            self.sel.unregister(w.res_fd)
        w.close()

    def slot_of(self, slot: int) -> WorkerSlot:
        return next(w for w in self.slots if w.slot == slot)

    def send(self, action: agent_machine.Send, now: float) -> None:
        """``agent_machine.Send``: the next ``n`` local mini-batches to one worker, one write."""
        w = self.slot_of(action.slot)
        if not w.ready:  # it died or was replaced by an earlier action of this turn
            return
        sent: list[bytes] = []
        for _ in range(min(action.n, len(self.local))):
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

    def kill_for_timeout(self, action: agent_machine.Kill) -> None:
        w = self.slot_of(action.slot)
        w.kill()
        if w.popen is not None:
            w.popen.wait()
        self.feed(agent_machine.WorkerLost(w.slot, action.status))

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

    def fit_workers(self) -> None:
        """As many workers as ``max_concurrency_per_instance`` asks, but never
        more than the mini-batches this instance can get: 100000 workers for
        10 mini-batches would all run init() before any work, and hang."""
        p = self.batcher().counters()
        needed = capacity.workers_to_start(len(self.slots), p.pending + p.leased, self.task.instance_count)
        for w in self.slots[needed:]:
            if w.popen is not None:
                self.kill_worker(w)
        self.slots = self.slots[:needed]
        for w in self.slots:
            if w.popen is None:
                self.start_worker(w)


def _host_env(task: ParallelTask, slot: int) -> dict[str, str]:
    from pjob.engine import host  # imports azureml_user only; cheap

    return host.worker_environment(task, dict(os.environ), slot)
