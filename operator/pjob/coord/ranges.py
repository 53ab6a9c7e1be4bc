"""IndexRanges: a set of mini-batch indexes kept as sorted, disjoint, half-open
``[start, end)`` intervals, so "done" and "failed" of a 10^6-mini-batch job fit
in a few bytes when they are mostly contiguous. Pure; used by
``pjob.coord.kube_state`` (the state kept in the queue ConfigMap).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator


class IndexRanges:
    def __init__(self, pairs: Iterable[Iterable[int]] = ()):
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in pairs:
            self.add_range(start, end)

    def add(self, index: int) -> None:
        self.add_range(index, index + 1)

    def add_range(self, start: int, end: int) -> None:
        if end <= start:
            return
        # every interval that overlaps or touches [start, end) is merged into it
        lo = bisect.bisect_left(self._ends, start)
        hi = bisect.bisect_right(self._starts, end)
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    def remove(self, index: int) -> bool:
        i = bisect.bisect_right(self._starts, index) - 1
        if i < 0 or index >= self._ends[i]:
            return False
        start, end = self._starts[i], self._ends[i]
        pieces = [(s, e) for s, e in ((start, index), (index + 1, end)) if e > s]
        self._starts[i : i + 1] = [s for s, _ in pieces]
        self._ends[i : i + 1] = [e for _, e in pieces]
        return True

    def __contains__(self, index: int) -> bool:
        i = bisect.bisect_right(self._starts, index) - 1
        return i >= 0 and index < self._ends[i]

    def __len__(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends))

    def __iter__(self) -> Iterator[int]:
        for s, e in zip(self._starts, self._ends):
            yield from range(s, e)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IndexRanges) and self.pairs() == other.pairs()

    def pairs(self) -> list[list[int]]:
        return [[s, e] for s, e in zip(self._starts, self._ends)]

    def clear(self) -> None:
        self._starts.clear()
        self._ends.clear()

    def __repr__(self) -> str:
        return f"IndexRanges({self.pairs()})"
