"""QueueState: the whole queue of one job as it lives in the queue ConfigMap's
``data``, plus the pure transitions on it (claim, complete, fail, release,
expire an agent, reset failed). ``pjob.coord.kube`` reads the ConfigMap,
applies transitions here, and writes it back under optimistic concurrency.

Size does not grow with the input: untouched mini-batches are ``>= cursor``;
``done``/``failed`` are run-length ranges; only mini-batches in flight or sent
back (``leased``, ``pending``) are listed one by one; details of failures are
kept for the first ``FAILED_INFO_CAP`` only (the engine's logs on the datastore
hold every attempt).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pjob.coord import base
from pjob.coord.ranges import IndexRanges

FAILED_INFO_CAP = 500
ERROR_CHARS = 400
KEYS = ("total", "maxAttempts", "cursor", "pending", "leased", "done", "failed", "failedInfo", "counters")


@dataclasses.dataclass
class Counters:
    items_succeeded: int = 0
    items_failed: int = 0
    attempts: int = 0
    last_progress: float = 0.0
    failed_items_succeeded: int = 0  # items of final-failed mini-batches, taken off by reset_failed
    failed_items_failed: int = 0


@dataclasses.dataclass
class QueueState:
    total: int | None  # None until agent 0 has planned and published the plan size
    max_attempts: int
    cursor: int = 0  # every index >= cursor is pending with no attempt yet
    pending: dict[int, int] = dataclasses.field(default_factory=dict)  # index < cursor -> attempts used
    leased: dict[str, dict[int, int]] = dataclasses.field(default_factory=dict)  # agent -> index -> attempt
    done: IndexRanges = dataclasses.field(default_factory=IndexRanges)
    failed: IndexRanges = dataclasses.field(default_factory=IndexRanges)
    failed_info: dict[int, list] = dataclasses.field(default_factory=dict)  # index -> [attempts, ok, bad, error, owner]
    counters: Counters = dataclasses.field(default_factory=Counters)

    # --- encoding ---------------------------------------------------------------------

    @classmethod
    def decode(cls, data: dict[str, str] | None) -> "QueueState":
        data = data or {}
        total = data.get("total")
        state = cls(total=int(total) if total not in (None, "") else None,
                    max_attempts=int(data.get("maxAttempts", 3)), cursor=int(data.get("cursor", 0)))
        state.pending = {int(i): int(a) for i, a in json.loads(data.get("pending", "[]"))}
        for agent, triples in json.loads(data.get("leased", "{}")).items():
            state.leased[agent] = {i: a for s, e, a in triples for i in range(s, e)}
        state.done = IndexRanges(json.loads(data.get("done", "[]")))
        state.failed = IndexRanges(json.loads(data.get("failed", "[]")))
        state.failed_info = {int(i): v for i, v in json.loads(data.get("failedInfo", "{}")).items()}
        state.counters = Counters(**json.loads(data.get("counters", "{}")))
        return state

    def encode(self) -> dict[str, str]:
        def dump(value: Any) -> str:
            return json.dumps(value, separators=(",", ":"))

        data = {
            "maxAttempts": str(self.max_attempts),
            "cursor": str(self.cursor),
            "pending": dump(sorted([i, a] for i, a in self.pending.items())),
            "leased": dump({agent: _runs(held) for agent, held in sorted(self.leased.items()) if held}),
            "done": dump(self.done.pairs()),
            "failed": dump(self.failed.pairs()),
            "failedInfo": dump({str(i): v for i, v in sorted(self.failed_info.items())}),
            "counters": dump(dataclasses.asdict(self.counters)),
        }
        if self.total is not None:
            data["total"] = str(self.total)
        return data

    # --- transitions ------------------------------------------------------------------

    def claim(self, agent: str, n: int) -> list[tuple[int, int]]:
        """Up to ``n`` (index, attempt) for ``agent``, lowest index first."""
        if self.total is None or n <= 0:
            return []
        got: list[tuple[int, int]] = []
        for index in sorted(self.pending)[:n]:
            got.append((index, self.pending.pop(index) + 1))
        take = min(n - len(got), self.total - self.cursor)
        got += [(i, 1) for i in range(self.cursor, self.cursor + take)]
        self.cursor += take
        if got:
            self.leased.setdefault(agent, {}).update(got)
            self.counters.attempts += len(got)
        return got

    def holds(self, agent: str, index: int, attempt: int) -> bool:
        return self.leased.get(agent, {}).get(index) == attempt

    def _take(self, agent: str, index: int, attempt: int) -> bool:
        if not self.holds(agent, index, attempt):
            return False
        del self.leased[agent][index]
        if not self.leased[agent]:
            del self.leased[agent]
        return True

    def complete(self, agent: str, index: int, attempt: int, outcome: base.Outcome, now: float) -> bool:
        if not self._take(agent, index, attempt):
            return False
        self.counters.items_succeeded += outcome.succeeded
        self.counters.items_failed += outcome.failed
        self.counters.last_progress = now
        if outcome.failed > 0 or outcome.error is not None:
            self._final_fail(index, attempt, outcome.succeeded, outcome.failed, outcome.error, agent)
        else:
            self.done.add(index)
        return True

    def fail(self, agent: str, index: int, attempt: int, error: str, retryable: bool, items: int,
             now: float) -> bool:
        if not self._take(agent, index, attempt):
            return False
        self.counters.last_progress = now
        if retryable and attempt < self.max_attempts:
            self.pending[index] = attempt
        else:
            self.counters.items_failed += items
            self._final_fail(index, attempt, 0, items, error, agent)
        return True

    def release(self, agent: str, index: int, attempt: int) -> bool:
        if not self._take(agent, index, attempt):
            return False
        self.pending[index] = attempt - 1
        self.counters.attempts -= 1
        return True

    def expire_agent(self, agent: str, items_of, now: float) -> int:
        """Every mini-batch ``agent`` holds goes back to pending, its attempt
        burnt; with no attempts left it is final-failed."""
        held = self.leased.pop(agent, {})
        for index, attempt in sorted(held.items()):
            if attempt < self.max_attempts:
                self.pending[index] = attempt
            else:
                items = max(items_of(index), 0)
                self.counters.items_failed += items
                self._final_fail(index, attempt, 0, items,
                                 f"lease expired: agent {agent} stopped heartbeating or died", agent)
        if held:
            self.counters.last_progress = now
        return len(held)

    def _final_fail(self, index: int, attempts: int, ok: int, bad: int, error: str | None, owner: str) -> None:
        self.failed.add(index)
        self.counters.failed_items_succeeded += ok
        self.counters.failed_items_failed += bad
        if len(self.failed_info) < FAILED_INFO_CAP:
            self.failed_info[index] = [attempts, ok, bad, (error or "")[:ERROR_CHARS] or None, owner]

    def reset_failed(self) -> int:
        n = len(self.failed)
        for index in self.failed:
            self.pending[index] = 0
        self.failed.clear()
        self.failed_info.clear()
        c = self.counters
        c.items_succeeded -= c.failed_items_succeeded
        c.items_failed -= c.failed_items_failed
        c.failed_items_succeeded = c.failed_items_failed = 0
        return n

    # --- views ------------------------------------------------------------------------

    def progress(self) -> base.Progress:
        total = self.total or 0
        leased = sum(len(h) for h in self.leased.values())
        done, failed = len(self.done), len(self.failed)
        c = self.counters
        return base.Progress(total=total, pending=total - leased - done - failed, leased=leased, done=done,
                             failed=failed, items_succeeded=c.items_succeeded, items_failed=c.items_failed,
                             attempts=c.attempts, last_progress=c.last_progress)

    def records(self, state: str | None = None) -> list[base.BatchRecord]:
        out: list[base.BatchRecord] = []
        if state in (None, "failed"):
            for index in self.failed:
                attempts, ok, bad, error, owner = self.failed_info.get(index, [0, 0, 0, None, None])
                out.append(base.BatchRecord(index, "failed", attempts, owner, error, ok, bad))
        if state in (None, "leased"):
            out += [base.BatchRecord(i, "leased", a, agent, None)
                    for agent, held in self.leased.items() for i, a in held.items()]
        if state in (None, "done"):
            out += [base.BatchRecord(i, "done", 0, None, None) for i in self.done]
        if state in (None, "pending"):
            out += [base.BatchRecord(i, "pending", a, None, None) for i, a in self.pending.items()]
            out += [base.BatchRecord(i, "pending", 0, None, None) for i in range(self.cursor, self.total or 0)]
        return sorted(out, key=lambda r: r.index)


def _runs(held: dict[int, int]) -> list[list[int]]:
    """{index: attempt} -> [[start, end, attempt], ...] over consecutive indexes with one attempt."""
    runs: list[list[int]] = []
    for index, attempt in sorted(held.items()):
        if runs and runs[-1][1] == index and runs[-1][2] == attempt:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1, attempt])
    return runs
