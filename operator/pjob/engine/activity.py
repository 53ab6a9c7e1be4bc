"""What each worker of an agent is doing right now, for the live display,
``pjob status``, the job page and the metrics.

The agent (``pjob.engine.agent``) calls ``Activity.update`` from its loop;
at most every ``WRITE_SECONDS`` it writes ``<work_dir>/activity/<node>.json``
(atomic rename, a few hundred bytes)::

    {"node": "0", "time": <epoch>, "pid": <agent pid>, "restarts": <workers replaced>,
     "workers": [{"proc": "process000", "state": "init|run|load|idle|restarting|stopped",
                  "since": <epoch>, "mini_batch": <index or null>}, ...],
     "durations": {"buckets": [[le, count], ...], "sum": s, "count": n}}

``durations`` is a histogram (not cumulative) of the elapsed seconds of the
attempts this agent finished. Readers use ``read_all`` and the pure
``describe``; nothing here imports more than the standard library.
"""

from __future__ import annotations

import bisect
import glob
import json
import os
import time
from typing import TYPE_CHECKING, Any

from pjob.engine import fileio

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pjob.engine.slots import WorkerSlot

WRITE_SECONDS = 0.5
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, float("inf"))


def folder(work_dir: str) -> str:
    return os.path.join(work_dir, "activity")


class Activity:
    """Per-agent tracker: a state per worker slot, when it began, restarts
    and the duration histogram; written to disk, throttled."""

    def __init__(self, work_dir: str, node: str):
        self.path = os.path.join(folder(work_dir), f"{node}.json")
        self.node = node
        self.since: dict[int, tuple[tuple[str, int | None], float]] = {}  # slot -> ((state, mini_batch), since epoch)
        self.starts: dict[int, int] = {}
        self.restarts = 0
        self.counts = [0] * len(BUCKETS)
        self.sum = 0.0
        self.n = 0
        self.last_write = 0.0
        self.dirty = True

    def started(self, slot: int) -> None:
        """A worker process was started in ``slot``; a second start is a restart."""
        self.starts[slot] = self.starts.get(slot, 0) + 1
        if self.starts[slot] > 1:
            self.restarts += 1
        self.dirty = True

    def finished(self, elapsed: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, max(0.0, elapsed))] += 1
        self.sum += max(0.0, elapsed)
        self.n += 1
        self.dirty = True

    def update(self, slots: Iterable[WorkerSlot], now_mono: float, force: bool = False) -> None:
        now = time.time()
        for w in slots:
            key = worker_state(w, self.starts.get(w.slot, 0))
            old = self.since.get(w.slot)
            if old is None or old[0] != key:
                since = now - max(0.0, now_mono - w.phase_started) if key[0] in ("run", "load") else now
                self.since[w.slot] = (key, since)
                self.dirty = True
        if (self.dirty and now - self.last_write >= WRITE_SECONDS) or force:
            self.write(slots, now)

    def write(self, slots: Iterable[WorkerSlot], now: float) -> None:
        workers = [
            {
                "proc": w.proc,
                "state": self.since[w.slot][0][0],
                "mini_batch": self.since[w.slot][0][1],
                "since": round(self.since[w.slot][1], 3),
            }
            for w in slots
            if w.slot in self.since
        ]
        doc = {
            "node": self.node,
            "time": round(now, 3),
            "pid": os.getpid(),
            "restarts": self.restarts,
            "workers": workers,
            "durations": {
                "buckets": [[b, c] for b, c in zip(BUCKETS[:-1], self.counts)] + [["+Inf", self.counts[-1]]],
                "sum": round(self.sum, 6),
                "count": self.n,
            },
        }
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fileio.write_text_atomic(self.path, json.dumps(doc))  # a full disk leaves no temporary file
        except OSError:
            return  # the display is best effort; the job goes on
        self.last_write, self.dirty = now, False


def worker_state(w: WorkerSlot, starts: int) -> tuple[str, int | None]:
    """(state, mini-batch) of one ``engine.slots.WorkerSlot`` (pure)."""
    if w.popen is None or w.res_fd < 0:
        return ("stopped", None)
    if not w.ready:
        return ("restarting" if starts > 1 else "init", None)
    if w.queue:
        return (w.phase, w.queue[0].index)
    return ("idle", None)


def read_all(work_dir: str) -> list[dict[str, Any]]:
    """Every agent's last activity document, by node; unreadable ones skipped."""
    out = []
    for path in sorted(glob.glob(os.path.join(folder(work_dir), "*.json"))):
        try:
            with open(path, encoding="utf-8") as fh:
                out.append(json.load(fh))
        except (OSError, ValueError):
            continue
    return out


def describe(worker: dict[str, Any], now: float) -> str:
    """'mini-batch 41 for 3 s', 'init for 12 s', 'idle', ... (pure)."""
    secs = max(0, int(now - float(worker.get("since") or now)))
    state = worker.get("state")
    if state in ("run", "load"):
        what = f"mini-batch {worker.get('mini_batch')}" + (" (loading data)" if state == "load" else "")
    elif state == "restarting":
        what = "restarting after a crash (init)"
    else:
        what = str(state)
    return what if state in ("idle", "stopped") else f"{what} for {secs} s"


def merged_durations(docs: list[dict[str, Any]]) -> tuple[list[tuple[str, int]], float, int]:
    """Sum the agents' histograms: ([(le, cumulative count)], sum, count) (pure)."""
    counts: dict[str, int] = {}
    total, n = 0.0, 0
    for doc in docs:
        d = doc.get("durations") or {}
        for le, c in d.get("buckets") or []:
            counts[str(le)] = counts.get(str(le), 0) + int(c)
        total += float(d.get("sum") or 0)
        n += int(d.get("count") or 0)
    out, running = [], 0
    for b in BUCKETS:
        key = "+Inf" if b == float("inf") else str(b)
        running += counts.get(key, 0)
        out.append((key, running))
    return out, total, n
