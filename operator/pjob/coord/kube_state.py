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
  ``--retry-failed``) are per-mini-batch facts: a bounded journal here, folded
  into fixed-size shard ConfigMaps (``pjob.coord.kube_shards``), read through
  ``load_shard``; their counts are counters;
- ``pending`` (sent back with attempts used) and ``leased`` list only the
  mini-batches in flight, at most a claim (``prefetch``) per agent, as runs
  of consecutive indexes, compressed when scattered retries make them long;
- failure details are kept for the first ``FAILED_INFO_CAP`` failures only,
  each error cut to ``ERROR_CHARS`` (the engine's error log on the datastore
  keeps every attempt in full).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pjob.coord import base, kube_encoding
from pjob.coord import kube_shards as shards
from pjob.coord.bitmap import IndexBitmap
from pjob.coord.kube_shards import Shard
from pjob.coord.ranges import IndexRanges
from pjob.queue import machine

FAILED_INFO_CAP = 100
ERROR_CHARS = 300
KEYS = (
    "total",
    "maxAttempts",
    "cursor",
    "pending",
    "leased",
    "beats",
    "journal",
    "seq",
    "shardSize",
    "foldedTo",
    "failedInfo",
    "counters",
)
OLDER_KEYS = ("done", "failed", "fresh")  # an older encoding's keys, dropped when the queue is written
ShardLoader = Callable[[int], Shard]


@dataclasses.dataclass
class Counters:
    items_succeeded: int = 0
    items_failed: int = 0
    attempts: int = 0
    last_progress: float = 0.0
    failed_items_succeeded: int = 0  # items of final-failed mini-batches, summed (taken off by a reset)
    failed_items_failed: int = 0
    failed: int = 0  # mini-batches failed for good
    fresh: int = 0  # mini-batches below the cursor pending again with no attempt


@dataclasses.dataclass
class QueueState:
    total: int | None  # None until agent 0 has planned and published the plan size
    max_attempts: int
    cursor: int = 0  # every index >= cursor is pending with no attempt yet
    pending: dict[int, int] = dataclasses.field(default_factory=dict)  # index < cursor -> attempts used (> 0)
    leased: dict[str, dict[int, int]] = dataclasses.field(default_factory=dict)  # agent -> index -> attempt
    journal: shards.Journal = dataclasses.field(default_factory=shards.Journal)
    shard_size: int = dataclasses.field(default_factory=lambda: shards.SHARD_SIZE)  # indexes per shard ConfigMap
    seq: int = 1  # the number of the next queue write (journal entries it adds carry it)
    folded_to: int = 0  # journal entries older than this were folded into the shards and dropped
    load_shard: ShardLoader | None = None  # reads shard k (None: shards start empty, kept in ``shards``)
    shards: dict[int, Shard] = dataclasses.field(default_factory=dict)  # the ones read or made here
    changes: int = 0  # journal entries this state added since it was read (a write's cap)
    failed_info: dict[int, list[Any]] = dataclasses.field(
        default_factory=dict
    )  # index -> [attempts, ok, bad, error, owner]
    beats: dict[str, int] = dataclasses.field(default_factory=dict)  # agent holding work -> its queue writes
    counters: Counters = dataclasses.field(default_factory=Counters)

    # --- encoding ---------------------------------------------------------------------

    @classmethod
    def decode(cls, data: dict[str, str] | None, load_shard: ShardLoader | None = None) -> QueueState:
        data = data or {}
        total = data.get("total")
        state = cls(
            total=int(total) if total not in (None, "") else None,
            max_attempts=int(data.get("maxAttempts", 3)),
            cursor=int(data.get("cursor", 0)),
            seq=int(data.get("seq", 1)),
            shard_size=int(data.get("shardSize", shards.SHARD_SIZE)),
            folded_to=int(data.get("foldedTo", 0)),
            load_shard=load_shard,
        )
        state.pending = {int(i): int(a) for i, a in json.loads(kube_encoding.unpack(data.get("pending", "[]")))}
        for agent, triples in json.loads(kube_encoding.unpack(data.get("leased", "{}"))).items():
            state.leased[agent] = {i: a for s, e, a in triples for i in range(s, e)}
        state.beats = {str(a): int(n) for a, n in json.loads(data.get("beats", "{}")).items()}
        state.failed_info = {int(i): v for i, v in json.loads(data.get("failedInfo", "{}")).items()}
        state.counters = Counters(**json.loads(data.get("counters", "{}")))
        state.journal = shards.Journal.decode(kube_encoding.unpack(data.get("journal", "[]")))
        _adopt_older_encoding(state, data)
        return state

    def encode(self) -> dict[str, str]:
        def dump(value: Any) -> str:
            return json.dumps(value, separators=(",", ":"))

        data = {
            "maxAttempts": str(self.max_attempts),
            "cursor": str(self.cursor),
            "pending": kube_encoding.pack(dump(sorted([i, a] for i, a in self.pending.items()))),
            "leased": kube_encoding.pack(
                dump({agent: kube_encoding.runs(held) for agent, held in sorted(self.leased.items()) if held})
            ),
            "beats": dump(dict(sorted(self.beats.items()))),
            "journal": kube_encoding.pack(self.journal.encode()),
            "seq": str(self.seq),
            "shardSize": str(self.shard_size),
            "foldedTo": str(self.folded_to),
            "failedInfo": dump({str(i): v for i, v in sorted(self.failed_info.items())}),
            "counters": dump(dataclasses.asdict(self.counters)),
        }
        if self.total is not None:
            data["total"] = str(self.total)
        return data

    # --- per-mini-batch facts: the journal over the shards ----------------------------------

    def shard(self, k: int) -> Shard:
        if k not in self.shards:
            self.shards[k] = self.load_shard(k) if self.load_shard is not None else Shard()
        return self.shards[k]

    def code(self, index: int) -> int:
        """``kube_shards.NONE | FRESH | FAILED`` of an index below the cursor."""
        code = self.journal.get(index)
        if code is None:
            code = self.shard(index // self.shard_size).code(index % self.shard_size)
        return code

    def _set_code(self, index: int, old: int, new: int) -> None:
        if old == new:
            return
        self.journal.set(index, new, self.seq)
        self.changes += 1
        c = self.counters
        c.failed += (new == shards.FAILED) - (old == shards.FAILED)
        c.fresh += (new == shards.FRESH) - (old == shards.FRESH)

    def with_code(self, code: int) -> Iterator[int]:
        """Every index below the cursor with ``code`` (FRESH or FAILED), in order; reads shards."""
        count = self.counters.fresh if code == shards.FRESH else self.counters.failed
        if not count:
            return
        in_journal = set(self.journal.with_code(code))
        if len(in_journal) >= count:  # all of them are still in the journal: no shard to read
            yield from sorted(in_journal)
            return
        found = 0
        size = self.shard_size
        for k in range(max(self.cursor - 1, 0) // size + 1):
            base_index = k * size
            shard = self.shard(k)
            bits = shard.failed if code == shards.FAILED else shard.fresh
            candidates = sorted(
                {base_index + o for o in bits if self.journal.get(base_index + o) is None}
                | {i for i in in_journal if i // size == k}
            )
            for index in candidates:
                found += 1
                yield index
            if found >= count:
                return

    def fold_due(self) -> bool:
        return len(self.journal) >= shards.FOLD_AT

    def fold(self, read: ShardLoader, write: Callable[[int, Shard], None]) -> None:
        """Fold the journal's written entries into the shards (each read
        fresh, given what it lacks, written if that changed it), then drop
        them from the journal (``pjob.coord.kube_shards``)."""
        upto = self.seq  # every entry of a written state is older than the next write
        for k, entries in self.journal.fold_plan(self.shard_size, upto).items():
            shard = read(k)
            if shard.apply(entries, upto):
                write(k, shard)
            self.shards[k] = shard
        self.journal.trim(upto)
        self.folded_to = upto

    def close_write(self) -> None:
        """Before the write: entries added here carry ``seq``; the next write gets ``seq + 1``."""
        if self.changes:
            self.seq += 1
            self.changes = 0

    def beat(self, agents: Iterable[str]) -> None:
        """A heartbeat of ``agents`` (written with this state); agents holding nothing are forgotten."""
        for agent in agents:
            self.beats[agent] = self.beats.get(agent, 0) + 1
        self.beats = {a: n for a, n in self.beats.items() if a in self.leased}

    # --- one mini-batch in and out of the encoding ------------------------------------------

    def _load(self, index: int, items: int = 0, owner: str | None = None) -> machine.Batch:
        if owner is not None and index in self.leased.get(owner, {}):
            return machine.Batch(index, machine.LEASED, self.leased[owner][index], owner, items)
        if index >= self.cursor:
            return machine.Batch(index, machine.PENDING, 0, None, items)
        if index in self.pending:
            return machine.Batch(index, machine.PENDING, self.pending[index], None, items)
        for agent, held in self.leased.items():
            if index in held:
                return machine.Batch(index, machine.LEASED, held[index], agent, items)
        code = self.code(index)
        if code == shards.FRESH:
            return machine.Batch(index, machine.PENDING, 0, None, items)
        if code == shards.FAILED:
            attempts, ok, bad, error, last = self.failed_info.get(index, [self.max_attempts, 0, 0, None, None])
            return machine.Batch(index, machine.FAILED, attempts, last, items, ok, bad, error)
        return machine.Batch(index, machine.DONE, 0, None, items)

    def _store(self, old: machine.Batch, new: machine.Batch) -> None:
        index = new.index
        old_code = _code_of(old) if index < self.cursor else shards.NONE  # >= cursor: pending, stored nowhere
        if old.state == machine.LEASED:
            holder = str(old.owner)  # a leased batch has an owner
            held = self.leased[holder]
            del held[index]
            if not held:
                del self.leased[holder]
        elif old.state == machine.FAILED:
            self.failed_info.pop(index, None)
            self.counters.failed_items_succeeded -= old.succeeded
            self.counters.failed_items_failed -= old.failed
        self.pending.pop(index, None)
        if index >= self.cursor:  # the cursor only moves forward; skipped indexes stay pending
            for skipped in range(self.cursor, index):
                self._set_code(skipped, shards.NONE, shards.FRESH)
            self.cursor = index + 1
        if new.state == machine.LEASED:
            self.leased.setdefault(str(new.owner), {})[index] = new.attempts
        elif new.state == machine.PENDING and new.attempts > 0:
            self.pending[index] = new.attempts
        elif new.state == machine.FAILED:
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
        self._set_code(index, old_code, _code_of(new))

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
        candidates = sorted(self.pending)[:n] + list(itertools.islice(self.with_code(shards.FRESH), n))
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

    def reset_failed(self, limit: int | None = None) -> int:
        """``machine.Reset`` for every failed mini-batch (the first ``limit``).
        Item counts of failed mini-batches are stored summed, so the first one
        carries the sums."""
        indexes = list(itertools.islice(self.with_code(shards.FAILED), limit))
        ok, bad = self.counters.failed_items_succeeded, self.counters.failed_items_failed
        for n, index in enumerate(indexes):
            old = self._load(index)._replace(succeeded=ok if n == 0 else 0, failed=bad if n == 0 else 0)
            self._step(old, machine.Reset(), 0.0)
        return len(indexes)

    # --- views ------------------------------------------------------------------------

    def progress(self) -> base.Progress:
        total = self.total or 0
        leased = sum(len(h) for h in self.leased.values())
        c = self.counters
        failed, pending = c.failed, len(self.pending) + c.fresh + total - self.cursor
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
            for index in self.with_code(shards.FAILED):
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
            out += [base.BatchRecord(i, "pending", 0, None, None) for i in self.with_code(shards.FRESH)]
            out += [base.BatchRecord(i, "pending", 0, None, None) for i in range(self.cursor, self.total or 0)]
        if state in (None, "done"):
            held = {i for h in self.leased.values() for i in h}
            out += [
                base.BatchRecord(i, "done", 0, None, None)
                for i in range(self.cursor)
                if i not in held and i not in self.pending and self.code(i) == shards.NONE
            ]
        return sorted(out, key=lambda r: r.index)


def _code_of(batch: machine.Batch) -> int:
    if batch.state == machine.FAILED:
        return shards.FAILED
    if batch.state == machine.PENDING and batch.attempts == 0:
        return shards.FRESH
    return shards.NONE


def _adopt_older_encoding(state: QueueState, data: dict[str, str]) -> None:
    """A queue written by an older pjob kept ``failed``/``fresh`` bitmaps here
    (or run-length JSON) and pending entries with no attempt: into the journal."""
    older = {shards.FAILED: data.get("failed"), shards.FRESH: data.get("fresh")}
    for index in [i for i, a in state.pending.items() if a <= 0]:
        del state.pending[index]
        state._set_code(index, shards.NONE, shards.FRESH)
    for code, text in older.items():
        if not text:
            continue
        indexes = IndexRanges(json.loads(text)) if text.startswith("[") else IndexBitmap.decode(text)
        for index in indexes:
            state._set_code(index, shards.NONE, code)
