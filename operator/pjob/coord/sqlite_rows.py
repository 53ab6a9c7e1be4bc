"""How ``pjob.coord.sqlite`` stores the queue: the schema, the state codes,
rows to and from ``pjob.queue.machine.Batch``, the counter update and the
``BEGIN IMMEDIATE`` transaction. Storage only: no queue rule here.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from pjob.coord import base, liveness
from pjob.queue import machine, protocol

PENDING, LEASED, DONE, FAILED = range(4)
STATE_NAMES = dict(enumerate(base.STATES))
STATE_CODES = {name: code for code, name in STATE_NAMES.items()}
COLUMNS = "idx, state, attempts, owner, items, succeeded, failed, error"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS batches(
    idx INTEGER PRIMARY KEY,
    items INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE TABLE IF NOT EXISTS agents(
    name TEXT PRIMARY KEY, deadline REAL NOT NULL, host TEXT, pid INTEGER, started REAL
);
CREATE TABLE IF NOT EXISTS counters(
    id INTEGER PRIMARY KEY CHECK (id = 1),
    total INTEGER NOT NULL, pending INTEGER NOT NULL, leased INTEGER NOT NULL,
    done INTEGER NOT NULL, failed INTEGER NOT NULL,
    items_succeeded INTEGER NOT NULL, items_failed INTEGER NOT NULL,
    attempts INTEGER NOT NULL, last_progress REAL NOT NULL
);
"""

# created after the rows of a new queue are inserted (much faster for big plans). No index of the
# leased rows by owner: every claim and completion updated it (a sixth of the queue's SQLite time per
# mini-batch) for the rare look-up of a gone agent's leases, which reads the table instead
INDEXES = """
CREATE INDEX IF NOT EXISTS batches_pending ON batches(idx) WHERE state = 0;
DROP INDEX IF EXISTS batches_leased;
CREATE INDEX IF NOT EXISTS batches_failed ON batches(idx) WHERE state = 3;
"""


# a completion stored only where the row is still as its lease says (its holder's, that attempt)
COMPLETE = (
    "UPDATE batches SET state = ?, succeeded = ?, failed = ?, error = ? "
    f"WHERE idx = ? AND state = {LEASED} AND owner = ? AND attempts = ?"
)


class Stale(Exception):
    """A completion's row was not as its lease says (the write is redone after ``holders``)."""


class Tx:
    """``with _Tx(conn):`` = BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def bump(db: sqlite3.Connection, progress: bool = False, **delta: int) -> None:
    sets = [f"{k} = {k} + :{k}" for k, v in delta.items() if v]
    if progress:
        sets.append("last_progress = :now")
    if sets:
        db.execute(f"UPDATE counters SET {', '.join(sets)} WHERE id = 1", {**delta, "now": time.time()})


def event(report: protocol.Report) -> machine.Event:
    lease = report.lease
    if report.kind == "fail":
        return machine.Fail(lease.owner, lease.attempt, report.error, report.retryable, report.items)
    if report.kind == "release":
        return machine.Release(lease.owner, lease.attempt)
    assert report.outcome is not None
    return machine.Complete(lease.owner, lease.attempt, report.outcome)


def batch(row: tuple[Any, ...]) -> machine.Batch:
    idx, state, attempts, owner, items, succeeded, failed, error = row
    return machine.Batch(idx, STATE_NAMES[state], attempts, owner, items, succeeded, failed, error)


def still_gone(db: sqlite3.Connection, agent: str) -> bool:
    row = db.execute("SELECT host, pid, started FROM agents WHERE name = ?", (agent,)).fetchone()
    return row is not None and liveness.is_gone(*row)


def holders(db: sqlite3.Connection, indexes: Iterable[int]) -> dict[int, tuple[str, int]]:
    """index -> (owner, attempt) of the leased ones among ``indexes``."""
    wanted = sorted(set(indexes))
    out: dict[int, tuple[str, int]] = {}
    for at in range(0, len(wanted), 500):  # well under SQLite's bound-parameter limit
        chunk = wanted[at : at + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT idx, owner, attempts FROM batches WHERE state = {LEASED} AND idx IN ({marks})"
        for idx, owner, attempts in db.execute(sql, chunk):
            out[idx] = (owner, attempts)
    return out
