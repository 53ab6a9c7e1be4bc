"""Per-mini-batch facts of the Kubernetes queue (which mini-batches failed for
good, which are pending again with no attempt), kept where no API object
grows with the input or the failures (pure; used by ``pjob.coord.kube_state``
and ``pjob.coord.kube``):

- a **journal** in the queue ConfigMap: ``index -> (code, seq)`` for the
  latest changes (``code``: ``NONE`` done or in flight, ``FRESH``,
  ``FAILED``; ``seq``: the number of the queue write that made it). It is
  folded into the shards once it holds ``FOLD_AT`` entries, and one write adds
  at most ``MAX_CHANGES`` (``pjob.coord.kube`` splits bigger writes), so it
  never holds more than ``FOLD_AT + MAX_CHANGES`` entries;
- **shards**: ConfigMap ``<job>-queue-<k>`` holds the ``failed`` and
  ``fresh`` bitmaps of indexes ``[k * SHARD_SIZE, (k + 1) * SHARD_SIZE)``
  (the queue records its shard size) and
  ``applied``, the queue write up to which it includes the journal. Two
  bitmaps of ``SHARD_SIZE`` bits are at most ``2 * SHARD_SIZE / 8`` bytes
  before compression, so a shard has a hard size cap whatever the pattern,
  and there are at most ``ceil(N / SHARD_SIZE)`` of them.

The truth about an index is its journal entry if any, else its shard's bits.
Folding (``fold_plan``, ``Shard.apply``, then ``trim``) is idempotent and
safe against concurrent folders: a shard skips entries older than its
``applied`` (they are in it, or superseded), and the journal drops entries
only after every shard they touch has them. A reader reads the queue
ConfigMap first and its shards after: a shard read is good for as long as the
queue's ``foldedTo`` (the last trim) has not moved.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator

from pjob.coord.bitmap import IndexBitmap

SHARD_SIZE = 1 << 19  # indexes per shard: two bitmaps of 64 KiB at most, 175 KiB base64 at worst
FOLD_AT = 1024  # journal entries that make the next write fold them into the shards
MAX_CHANGES = 1024  # journal entries one queue write may add (bigger writes are split)
NONE, FRESH, FAILED = 0, 1, 2


def shard_name(queue: str, k: int) -> str:
    return f"{queue}-{k}"


@dataclasses.dataclass
class Shard:
    """The bitmaps of one index range (offsets from ``k * SHARD_SIZE``)."""

    failed: IndexBitmap = dataclasses.field(default_factory=IndexBitmap)
    fresh: IndexBitmap = dataclasses.field(default_factory=IndexBitmap)
    applied: int = 0  # journal entries with a smaller seq are in these bitmaps (or superseded)

    def code(self, offset: int) -> int:
        return FAILED if offset in self.failed else FRESH if offset in self.fresh else NONE

    def apply(self, entries: Iterable[tuple[int, int, int]], upto: int) -> bool:
        """Journal entries ``(offset, code, seq)`` newer than ``applied``, then
        ``applied = upto``. False: nothing changed (no write needed)."""
        if upto <= self.applied:
            return False
        for offset, code, seq in entries:
            if seq < self.applied:
                continue
            self.failed.discard(offset)
            self.fresh.discard(offset)
            if code == FAILED:
                self.failed.add(offset)
            elif code == FRESH:
                self.fresh.add(offset)
        self.applied = upto
        return True

    def encode(self) -> dict[str, str]:
        return {"failed": self.failed.encode(), "fresh": self.fresh.encode(), "applied": str(self.applied)}

    @classmethod
    def decode(cls, data: dict[str, str] | None) -> Shard:
        data = data or {}
        return cls(
            IndexBitmap.decode(data.get("failed")), IndexBitmap.decode(data.get("fresh")), int(data.get("applied", 0))
        )


class Journal:
    """The latest changes, ``index -> (code, seq)``, kept in the queue ConfigMap."""

    def __init__(self, entries: dict[int, tuple[int, int]] | None = None):
        self.entries = entries or {}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, index: int) -> int | None:
        entry = self.entries.get(index)
        return None if entry is None else entry[0]

    def set(self, index: int, code: int, seq: int) -> None:
        self.entries[index] = (code, seq)

    def with_code(self, code: int) -> Iterator[int]:
        return (i for i, (c, _) in self.entries.items() if c == code)

    def fold_plan(self, shard_size: int, upto: int) -> dict[int, list[tuple[int, int, int]]]:
        """Entries older than ``upto`` by shard, as ``(offset, code, seq)``."""
        plan: dict[int, list[tuple[int, int, int]]] = {}
        for index, (code, seq) in sorted(self.entries.items()):
            if seq < upto:
                plan.setdefault(index // shard_size, []).append((index % shard_size, code, seq))
        return plan

    def trim(self, upto: int) -> None:
        """Drop the entries every shard has now (seq < ``upto``)."""
        self.entries = {i: (c, s) for i, (c, s) in self.entries.items() if s >= upto}

    def encode(self) -> str:
        """``[[index, code, seq], ...]`` sorted, indexes delta-coded (short when they cluster)."""
        out, last = [], 0
        for index, (code, seq) in sorted(self.entries.items()):
            out.append([index - last, code, seq])
            last = index
        return json.dumps(out, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> Journal:
        entries, last = {}, 0
        for delta, code, seq in json.loads(text or "[]"):
            last += delta
            entries[last] = (code, seq)
        return cls(entries)


class MemoryShards:
    """Shard ConfigMaps in memory, encoded as they would be stored (the
    simulation of ``bench/queue_size.py`` and the tests)."""

    def __init__(self) -> None:
        self.data: dict[int, dict[str, str]] = {}

    def load(self, k: int) -> Shard:
        return Shard.decode(self.data.get(k))

    def save(self, k: int, shard: Shard) -> None:
        self.data[k] = shard.encode()
