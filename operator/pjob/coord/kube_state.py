"""QueueState: how the Kubernetes backend stores the queue of one job in the
queue ConfigMap's ``data``, and nothing more: every change is a
``pjob.queue.machine.step`` over the mini-batches it touches (``_load`` builds
a ``machine.Batch`` from this encoding, ``_store`` writes one back).
``pjob.coord.kube`` reads the ConfigMap, applies events here, and writes it
back under optimistic concurrency (``resourceVersion``).

The encoding is bounded whatever the input or the failures (limits in
docs/architecture.md, measured by ``bench/queue_size.py``):

- every index ``>= cursor`` is pending with no attempt; ``done`` is not
  stored at all: it is every index below the cursor in no other set;
- ``failed`` and ``fresh`` (pending again with no attempt: released, or
  ``--retry-failed``) are compressed bitmaps (``pjob.coord.bitmap``);
- ``pending`` (sent back with attempts used) and ``leased`` list only the
  mini-batches in flight, at most a claim (``prefetch``) per agent, as runs
  of consecutive indexes, compressed when scattered retries make them long;
- failure details are kept for the first ``FAILED_INFO_CAP`` failures only,
  each error cut to ``ERROR_CHARS`` (the engine's error log on the datastore
  keeps every attempt in full).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import zlib
from collections.abc import Callable
from typing import Any

from pjob.coord import base
from pjob.coord.bitmap import IndexBitmap
from pjob.coord.ranges import IndexRanges
from pjob.queue import machine

FAILED_INFO_CAP = 100
ERROR_CHARS = 300
KEYS = ("total", "maxAttempts", "cursor", "pending", "fresh", "leased", "beats", "failed", "failedInfo", "counters")


@dataclasses.dataclass
class Counters:
    items_succeeded: int = 0
    items_failed: int = 0
    attempts: int = 0
    last_progress: float = 0.0
    failed_items_succeeded: int = 0  # items of final-failed mini-batches, summed (taken off by a reset)
    failed_items_failed: int = 0


@dataclasses.dataclass
class QueueState:
    total: int | None  # None until agent 0 has planned and published the plan size
    max_attempts: int
    cursor: int = 0  # every index >= cursor is pending with no attempt yet
    pending: dict[int, int] = dataclasses.field(default_factory=dict)  # index < cursor -> attempts used (> 0)
    fresh: IndexBitmap = dataclasses.field(default_factory=IndexBitmap)  # index < cursor, pending, no attempt
    leased: dict[str, dict[int, int]] = dataclasses.field(default_factory=dict)  # agent -> index -> attempt
    failed: IndexBitmap = dataclasses.field(default_factory=IndexBitmap)
    failed_info: dict[int, list] = dataclasses.field(default_factory=dict)  # index -> [attempts, ok, bad, error, owner]
    beats: dict[str, int] = dataclasses.field(default_factory=dict)  # agent holding work -> its queue writes
    counters: Counters = dataclasses.field(default_factory=Counters)

    # --- encoding ---------------------------------------------------------------------

    @classmethod
    def decode(cls, data: dict[str, str] | None) -> QueueState:
        data = data or {}
        total = data.get("total")
        state = cls(
            total=int(total) if total not in (None, "") else None,
            max_attempts=int(data.get("maxAttempts", 3)),
            cursor=int(data.get("cursor", 0)),
        )
        state.pending = {int(i): int(a) for i, a in json.loads(_unpack(data.get("pending", "[]")))}
        for index in [i for i, a in state.pending.items() if a <= 0]:  # older encoding
            state.fresh.add(index)
            del state.pending[index]
        state.fresh = _bitmap(data.get("fresh"), state.fresh)
        for agent, triples in json.loads(_unpack(data.get("leased", "{}"))).items():
            state.leased[agent] = {i: a for s, e, a in triples for i in range(s, e)}
        state.failed = _bitmap(data.get("failed"))
        state.beats = {str(a): int(n) for a, n in json.loads(data.get("beats", "{}")).items()}
        state.failed_info = {int(i): v for i, v in json.loads(data.get("failedInfo", "{}")).items()}
        state.counters = Counters(**json.loads(data.get("counters", "{}")))
        return state

    def encode(self) -> dict[str, str]:
        def dump(value: Any) -> str:
            return json.dumps(value, separators=(",", ":"))

        data = {
            "maxAttempts": str(self.max_attempts),
            "cursor": str(self.cursor),
            "pending": _pack(dump(sorted([i, a] for i, a in self.pending.items()))),
            "fresh": self.fresh.encode(),
            "leased": _pack(dump({agent: _runs(held) for agent, held in sorted(self.leased.items()) if held})),
            "beats": dump(dict(sorted(self.beats.items()))),
            "failed": self.failed.encode(),
            "failedInfo": dump({str(i): v for i, v in sorted(self.failed_info.items())}),
            "counters": dump(dataclasses.asdict(self.counters)),
        }
        if self.total is not None:
            data["total"] = str(self.total)
        return data

    def beat(self, agents) -> None:
        """A heartbeat of ``agents`` (written with this state); agents holding nothing are forgotten."""
        for agent in agents:
            self.beats[agent] = self.beats.get(agent, 0) + 1
        self.beats = {a: n for a, n in self.beats.items() if a in self.leased}

    # --- one mini-batch in and out of the encoding ------------------------------------------

    def _load(self, index: int, items: int = 0, owner: str | None = None) -> machine.Batch:
        if owner is not None and index in self.leased.get(owner, {}):
            return machine.Batch(index, machine.LEASED, self.leased[owner][index], owner, items)
        if index >= self.cursor or index in self.fresh:
            return machine.Batch(index, machine.PENDING, 0, None, items)
        if index in self.pending:
            return machine.Batch(index, machine.PENDING, self.pending[index], None, items)
        if index in self.failed:
            attempts, ok, bad, error, last = self.failed_info.get(index, [self.max_attempts, 0, 0, None, None])
            return machine.Batch(index, machine.FAILED, attempts, last, items, ok, bad, error)
        for agent, held in self.leased.items():
            if index in held:
                return machine.Batch(index, machine.LEASED, held[index], agent, items)
        return machine.Batch(index, machine.DONE, 0, None, items)

    def _store(self, old: machine.Batch, new: machine.Batch) -> None:
        index = new.index
        if old.state == machine.LEASED:
            held = self.leased[old.owner]
            del held[index]
            if not held:
                del self.leased[old.owner]
        elif old.state == machine.FAILED:
            self.failed.discard(index)
            self.failed_info.pop(index, None)
            self.counters.failed_items_succeeded -= old.succeeded
            self.counters.failed_items_failed -= old.failed
        self.pending.pop(index, None)
        self.fresh.discard(index)
        if index >= self.cursor:  # the cursor only moves forward; skipped indexes stay pending
            for skipped in range(self.cursor, index):
                self.fresh.add(skipped)
            self.cursor = index + 1
        if new.state == machine.LEASED:
            self.leased.setdefault(new.owner, {})[index] = new.attempts
        elif new.state == machine.PENDING:
            if new.attempts > 0:
                self.pending[index] = new.attempts
            else:
                self.fresh.add(index)
        elif new.state == machine.FAILED:
            self.failed.add(index)
            self.counters.failed_items_succeeded += new.succeeded
            self.counters.failed_items_failed += new.failed
            if len(self.failed_info) < FAILED_INFO_CAP:
                self.failed_info[index] = [
                    new.attempts,
                    new.succeeded,
                    new.failed,
                    (new.error or "")[:ERROR_CHARS] or None,
                    new.owner,
                ]

    def _step(self, old: machine.Batch, event: machine.Event, now: float) -> machine.Batch | None:
        result = machine.step(old, event, self.max_attempts)
        if result is None:
            return None
        new, delta = result
        self._store(old, new)
        c = self.counters
        c.items_succeeded += delta.items_succeeded
        c.items_failed += delta.items_failed
        c.attempts += delta.attempts
        if delta.progress:
            c.last_progress = now
        return new

    # --- events ---------------------------------------------------------------------------

    def claim(self, agent: str, n: int, now: float = 0.0) -> list[tuple[int, int]]:
        """Up to ``n`` (index, attempt) for ``agent`` (``machine.claim_order``)."""
        if self.total is None or n <= 0:
            return []
        candidates = sorted(self.pending)[:n] + self.fresh.lowest(n)
        candidates += range(self.cursor, min(self.total, self.cursor + n))
        got = []
        for index in machine.claim_order(candidates, n):
            new = self._step(self._load(index), machine.Claim(agent), now)
            if new is not None:
                got.append((index, new.attempts))
        return got

    def holds(self, agent: str, index: int, attempt: int) -> bool:
        return self.leased.get(agent, {}).get(index) == attempt

    def complete(self, agent: str, index: int, attempt: int, outcome: base.Outcome, now: float) -> bool:
        return self._step(self._load(index, owner=agent), machine.Complete(agent, attempt, outcome), now) is not None

    def fail(self, agent: str, index: int, attempt: int, error: str, retryable: bool, items: int, now: float) -> bool:
        event = machine.Fail(agent, attempt, error, retryable, items)
        return self._step(self._load(index, owner=agent), event, now) is not None

    def release(self, agent: str, index: int, attempt: int) -> bool:
        return self._step(self._load(index, owner=agent), machine.Release(agent, attempt), 0.0) is not None

    def expire_agent(self, agent: str, items_of: Callable[[int], int], now: float) -> int:
        """``machine.Expire`` for every mini-batch ``agent`` holds."""
        held = sorted(self.leased.get(agent, {}))
        return sum(self._step(self._load(i, items_of(i), agent), machine.Expire(agent), now) is not None for i in held)

    def reset_failed(self) -> int:
        """``machine.Reset`` for every failed mini-batch. Item counts of failed
        mini-batches are stored summed, so the first one carries the sums."""
        indexes = list(self.failed)
        ok, bad = self.counters.failed_items_succeeded, self.counters.failed_items_failed
        for n, index in enumerate(indexes):
            old = self._load(index)._replace(succeeded=ok if n == 0 else 0, failed=bad if n == 0 else 0)
            self._step(old, machine.Reset(), 0.0)
        return len(indexes)

    # --- views ------------------------------------------------------------------------

    def progress(self) -> base.Progress:
        total = self.total or 0
        leased = sum(len(h) for h in self.leased.values())
        failed, pending = len(self.failed), len(self.pending) + len(self.fresh) + total - self.cursor
        c = self.counters
        return base.Progress(
            total=total,
            pending=pending,
            leased=leased,
            done=total - pending - leased - failed,
            failed=failed,
            items_succeeded=c.items_succeeded,
            items_failed=c.items_failed,
            attempts=c.attempts,
            last_progress=c.last_progress,
        )

    def records(self, state: str | None = None) -> list[base.BatchRecord]:
        out: list[base.BatchRecord] = []
        if state in (None, "failed"):
            for index in self.failed:
                b = self._load(index)
                out.append(base.BatchRecord(index, "failed", b.attempts, b.owner, b.error, b.succeeded, b.failed))
        if state in (None, "leased"):
            out += [
                base.BatchRecord(i, "leased", a, agent, None)
                for agent, held in self.leased.items()
                for i, a in held.items()
            ]
        if state in (None, "pending"):
            out += [base.BatchRecord(i, "pending", a, None, None) for i, a in self.pending.items()]
            out += [base.BatchRecord(i, "pending", 0, None, None) for i in self.fresh]
            out += [base.BatchRecord(i, "pending", 0, None, None) for i in range(self.cursor, self.total or 0)]
        if state in (None, "done"):
            held = {i for h in self.leased.values() for i in h}
            out += [
                base.BatchRecord(i, "done", 0, None, None)
                for i in range(self.cursor)
                if i not in held and i not in self.pending and i not in self.fresh and i not in self.failed
            ]
        return sorted(out, key=lambda r: r.index)


PACK_OVER = 2048  # bytes: a longer in-flight list (scattered retries) is stored compressed


def _pack(text: str) -> str:
    if len(text) <= PACK_OVER:
        return text
    return "z:" + base64.b64encode(zlib.compress(text.encode(), 6)).decode("ascii")


def _unpack(text: str) -> str:
    return zlib.decompress(base64.b64decode(text[2:])).decode() if text.startswith("z:") else text


def _bitmap(text: str | None, into: IndexBitmap | None = None) -> IndexBitmap:
    """A bitmap value, or the older run-length JSON ``[[start, end], ...]``."""
    out = into if into is not None else IndexBitmap()
    if text and text.startswith("["):
        for index in IndexRanges(json.loads(text)):
            out.add(index)
        return out
    decoded = IndexBitmap.decode(text)
    for index in out:
        decoded.add(index)
    return decoded


def _runs(held: dict[int, int]) -> list[list[int]]:
    """{index: attempt} -> [[start, end, attempt], ...] over consecutive indexes with one attempt."""
    runs: list[list[int]] = []
    for index, attempt in sorted(held.items()):
        if runs and runs[-1][1] == index and runs[-1][2] == attempt:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1, attempt])
    return runs
