"""SqliteCoordinator: the local queue of mini-batches, one SQLite file in the
run folder (``<run>/steps/<step>/work/queue.db``). Created by the local driver
(``pjob.local``) with the plan's size; opened by every agent process of the run.

Properties (checked by ``tests/unit/test_coordinator_contract.py``):

- safe across processes: WAL journal, ``BEGIN IMMEDIATE`` for every write, a
  generous busy timeout; one connection per process (re-opened after fork);
- survives ``kill -9`` of any process at any moment: every state change is one
  short transaction; re-opening keeps done/failed; leases of agents that are
  gone (dead pid on this host, or no heartbeat for ``lease_seconds``) go back
  to pending with the attempt counted;
- no queue rule of its own: every change is a ``pjob.queue.machine.step``
  over the rows it touches (read and written in one ``BEGIN IMMEDIATE``
  transaction); this module only stores the states and their counters;
- O(1) counters: a single ``counters`` row kept in step with every write.

Heartbeats are per agent (one row in ``agents``), not per lease, so they cost
one tiny UPDATE whatever the agent holds.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from pjob.coord import base, liveness, sqlite_rows
from pjob.queue import batching, machine, protocol
from pjob.spec import errors


class SqliteCoordinator:
    """See the module docstring. ``total`` (and optionally ``items``, the item
    count of each mini-batch, used to count the items of a final-failed
    mini-batch as failed) creates the queue when the file is new; ``None``
    opens an existing queue. ``max_attempts`` = 1 + max_retries."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        total: int | None = None,
        max_attempts: int = 3,
        lease_seconds: float = 30.0,
        items: Sequence[int] | None = None,
        expiry_check_seconds: float = 1.0,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.db_path = os.fspath(db_path)
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.expiry_check_seconds = expiry_check_seconds
        self._conn_pid = -1
        self._conn: sqlite3.Connection | None = None
        self._last_expiry_check = 0.0
        self._registered: dict[str, float] = {}  # agent -> when this process last wrote its deadline
        self._setup(total, items)

    # --- connection and transactions -------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._conn_pid != os.getpid():
            conn = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._conn, self._conn_pid = conn, os.getpid()
            self._registered = {}  # a forked child must register its own pid
        return self._conn

    def _write(self) -> sqlite_rows.Tx:
        return sqlite_rows.Tx(self._db())

    def close(self) -> None:
        if self._conn is not None and self._conn_pid == os.getpid():
            self._conn.close()
        self._conn = None

    def _setup(self, total: int | None, items: Sequence[int] | None) -> None:
        db = self._db()
        with self._write():
            for stmt in sqlite_rows.SCHEMA.strip().split(";"):
                if stmt.strip():
                    db.execute(stmt)
            row = db.execute("SELECT total FROM counters WHERE id = 1").fetchone()
            if row is None:
                if total is None:
                    raise errors.UserError(
                        f"no queue in {self.db_path}: the run was never planned (start it with `pjob run`)",
                        file=self.db_path,
                    )
                self._create(db, total, items)
            elif total is not None and row[0] != total:
                raise errors.UserError(
                    f"this run's queue has {row[0]} mini-batches but the plan now has {total}: "
                    "the input or mini_batch_size changed; start over with --fresh",
                    file=self.db_path,
                )
            for stmt in sqlite_rows.INDEXES.strip().split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('max_attempts', ?)", (self.max_attempts,))

    def _create(self, db: sqlite3.Connection, total: int, items: Sequence[int] | None) -> None:
        if items is not None and len(items) != total:
            raise ValueError(f"items has {len(items)} entries, total is {total}")
        if items is None:
            db.execute(
                "WITH RECURSIVE s(i) AS (SELECT 0 WHERE ? > 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ?) "
                "INSERT INTO batches(idx) SELECT i FROM s",
                (total, total),
            )
        else:  # json_each runs in C: a million rows in well under a second
            db.execute(
                "INSERT INTO batches(idx, items) SELECT key, value FROM json_each(?)",
                (json.dumps([int(n) for n in items]),),
            )
        db.execute("INSERT INTO counters VALUES (1, ?, ?, 0, 0, 0, 0, 0, 0, ?)", (total, total, time.time()))

    # --- protocol ------------------------------------------------------------------------

    # a write is a short local transaction: no claim-ahead, outcomes wait at most 50 ms
    batching = protocol.Batching(prefetch=0, flush_seconds=0.05, flush_max=256)

    def pending_now(self) -> int:
        """Pending as read now, after sending a dead agent's leases back when due (as ``claim`` does)."""
        now = time.time()
        self.expire_if_due(now)
        return self.counters().pending

    def safe_until(self, agent: str) -> float:
        """Until the deadline this process last wrote for ``agent`` (less a margin)."""
        written = self._registered.get(agent)
        return -math.inf if written is None else written + self.lease_seconds * 0.75

    def commit(
        self,
        agent: str,
        reports: Sequence[protocol.Report],
        claim: protocol.ClaimRequest | None = None,
        closing: bool = False,
    ) -> tuple[list[bool], list[base.Lease]]:
        """Completions in one compare-and-set transaction, the other reports in
        another, then the claim (each a short ``BEGIN IMMEDIATE``)."""
        completions = [(r.lease, r.outcome) for r in reports if r.kind == "complete" and r.outcome is not None]
        if len(completions) == len(reports):  # the common case: nothing but completions
            return self.complete_many(completions) if completions else [], self._claim_for(agent, claim)
        accepted: dict[int, bool] = {}
        done = [(n, r) for n, r in enumerate(reports) if r.kind == "complete" and r.outcome is not None]
        for (n, _), ok in zip(done, self.complete_many([(r.lease, r.outcome) for _, r in done if r.outcome])):
            accepted[n] = ok
        others = [(n, r) for n, r in enumerate(reports) if n not in accepted]
        events = [(r.lease, sqlite_rows.event(r)) for _, r in others]
        for (n, _), ok in zip(others, self._on_leases(events) if events else []):
            accepted[n] = ok
        return [accepted[n] for n in range(len(reports))], self._claim_for(agent, claim)

    def _claim_for(self, agent: str, claim: protocol.ClaimRequest | None) -> list[base.Lease]:
        """The claim of a ``commit``, as many as ``batching.claim_ahead`` says."""
        if claim is None or claim.need <= 0:
            return []
        pending = self.counters().pending
        return self.claim(
            agent, batching.claim_ahead(claim.need, claim.prefetch, pending, 1, claim.rate, claim.horizon)
        )

    def claim(self, agent: str, max_n: int) -> list[base.Lease]:
        now = time.time()
        self.expire_if_due(now)
        db = self._db()
        if max_n <= 0 or db.execute("SELECT pending FROM counters").fetchone()[0] <= 0:
            return []  # nothing to do: no write, so idle agents polling cost no lock
        with self._write():
            # a deadline written moments ago cannot have expired: skip the write
            if now - self._registered.get(agent, -1e18) > self.lease_seconds / 10:
                self._register(db, agent, now, in_tx=True)
            deadline = self._registered[agent] + self.lease_seconds
            # which ones: machine.claim_order (lowest index first), here as the index's order
            # the inner SELECT reads only the partial index of pending rows (selecting every column
            # directly made SQLite walk the table in idx order past every finished row: quadratic)
            rows = db.execute(
                f"SELECT {sqlite_rows.COLUMNS} FROM batches WHERE idx IN "
                "(SELECT idx FROM batches WHERE state = 0 ORDER BY idx LIMIT ?) ORDER BY idx",
                (max_n,),
            ).fetchall()
            claim = machine.Claim(agent)  # one event for every row
            got = self._apply(db, [(sqlite_rows.batch(row), claim) for row in rows])
        return [base.Lease(b.index, b.attempts, agent, deadline) for b in got]

    def _apply(
        self, db: sqlite3.Connection, changes: Sequence[tuple[machine.Batch, machine.Event]]
    ) -> list[machine.Batch]:
        """Run each (stored batch, event) through the queue's rules; store what
        changed and the summed counter delta. Returns the accepted new batches."""
        return self._store(
            db,
            [
                result
                for result in (machine.step(batch, event, self.max_attempts) for batch, event in changes)
                if result is not None
            ],
        )

    def _store(
        self, db: sqlite3.Connection, results: Sequence[tuple[machine.Batch, machine.Delta]]
    ) -> list[machine.Batch]:
        """Store the new batches ``machine.step`` returned and their summed counter delta."""
        accepted = [batch for batch, _ in results]
        delta = machine.total(change for _, change in results)
        if accepted:
            db.executemany(
                "UPDATE batches SET state = ?, attempts = ?, owner = ?, succeeded = ?, failed = ?, error = ? "
                "WHERE idx = ?",
                [
                    (sqlite_rows.STATE_CODES[b.state], b.attempts, b.owner, b.succeeded, b.failed, b.error, b.index)
                    for b in accepted
                ],
            )
            sqlite_rows.bump(db, progress=delta.progress, **delta.counts())
        return accepted

    def _load(self, db: sqlite3.Connection, indexes: Iterable[int]) -> dict[int, machine.Batch]:
        wanted = sorted(set(indexes))
        out: dict[int, machine.Batch] = {}
        for at in range(0, len(wanted), 500):  # well under SQLite's bound-parameter limit
            chunk = wanted[at : at + 500]
            marks = ",".join("?" * len(chunk))
            for row in db.execute(f"SELECT {sqlite_rows.COLUMNS} FROM batches WHERE idx IN ({marks})", chunk):
                out[row[0]] = sqlite_rows.batch(row)
        return out

    def _register(self, db: sqlite3.Connection, agent: str, now: float, in_tx: bool) -> None:
        host, pid, started = liveness.this_process()
        sql = (
            "INSERT INTO agents(name, deadline, host, pid, started) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET deadline = excluded.deadline, host = excluded.host, "
            "pid = excluded.pid, started = excluded.started"
        )
        args = (agent, now + self.lease_seconds, host, pid, started)
        self._registered[agent] = now
        if in_tx:
            db.execute(sql, args)
        else:
            with self._write():
                db.execute(sql, args)

    def heartbeat(self, agent: str) -> None:
        self._register(self._db(), agent, time.time(), in_tx=False)

    def complete(self, lease: base.Lease, outcome: base.Outcome) -> bool:
        return self.complete_many([(lease, outcome)])[0]

    def complete_many(self, results: Sequence[tuple[base.Lease, base.Outcome]]) -> list[bool]:
        """The machine steps each mini-batch as its lease says it is (leased to
        that owner, that attempt), and the stepped rows are stored with one
        ``executemany`` whose WHERE holds them to exactly that: a stale lease
        changes nothing, as the machine says of the stored row. When a row was
        not as its lease says, that write is rolled back and done again after
        one read of the rows' holders (which answers each lease)."""
        if not results:
            return []
        db = self._db()
        try:
            with self._write():
                return self._complete(db, results, None)
        except sqlite_rows.Stale:
            with self._write():
                return self._complete(db, results, sqlite_rows.holders(db, (lease.index for lease, _ in results)))

    def _complete(
        self,
        db: sqlite3.Connection,
        results: Sequence[tuple[base.Lease, base.Outcome]],
        holders: dict[int, tuple[str, int]] | None,
    ) -> list[bool]:
        """``complete_many`` in the open transaction; ``holders`` None: every
        lease is taken to stand (``sqlite_rows.Stale`` when one does not)."""
        order: list[bool] = []
        rows, deltas = [], []
        step, batch, complete, leased = machine.step, machine.Batch, machine.Complete, machine.LEASED
        codes, max_attempts = sqlite_rows.STATE_CODES, self.max_attempts  # (this runs once per mini-batch)
        for lease, outcome in results:
            index, owner, attempt = lease.index, lease.owner, lease.attempt
            if holders is not None:
                if holders.get(index) != (owner, attempt):
                    order.append(False)
                    continue
                del holders[index]  # a second outcome of the same lease in one call is stale
            stepped = step(batch(index, leased, attempt, owner), complete(owner, attempt, outcome), max_attempts)
            assert stepped is not None  # a leased batch always takes its holder's outcome
            new, delta = stepped
            rows.append((codes[new.state], new.succeeded, new.failed, new.error, index, owner, attempt))
            deltas.append(delta)
            order.append(True)
        if rows:
            changes = db.total_changes
            db.executemany(sqlite_rows.COMPLETE, rows)
            if db.total_changes - changes != len(rows):
                raise sqlite_rows.Stale  # rolls this transaction back
            delta = machine.total(deltas)
            sqlite_rows.bump(db, progress=delta.progress, **delta.counts())
        return order

    def _on_leases(self, events: Sequence[tuple[base.Lease, machine.Event]]) -> list[bool]:
        db = self._db()
        with self._write():
            stored = self._load(db, (lease.index for lease, _ in events))
            results, order = [], []
            for lease, event in events:
                batch = stored.get(lease.index)
                result = None if batch is None else machine.step(batch, event, self.max_attempts)
                order.append(result is not None)
                if result is not None:
                    results.append(result)  # stored as stepped here (step is pure: no second step)
                    stored[lease.index] = result[0]  # a later event on the same mini-batch sees this one
            self._store(db, results)
        return order

    def fail(self, lease: base.Lease, error: str, retryable: bool = True, items: int | None = None) -> bool:
        return self._on_leases([(lease, machine.Fail(lease.owner, lease.attempt, error, retryable, items))])[0]

    def release(self, lease: base.Lease) -> None:
        self._on_leases([(lease, machine.Release(lease.owner, lease.attempt))])

    def expire_if_due(self, now: float) -> None:
        """``release_expired`` at most every ``expiry_check_seconds`` (claims and reads of pending call it)."""
        if now - self._last_expiry_check >= self.expiry_check_seconds:
            self.release_expired(now)

    def release_expired(self, now: float) -> int:
        """Leases of agents whose heartbeat deadline passed, or whose process
        is gone (same host), are given to ``machine.Expire``."""
        self._last_expiry_check = time.time()
        db = self._db()
        agents = db.execute("SELECT name, deadline, host, pid, started FROM agents").fetchall()
        gone = [
            name
            for name, deadline, host, pid, started in agents
            if deadline < now or liveness.is_gone(host, pid, started)
        ]
        if not gone:
            return 0
        moved = 0
        with self._write():
            for name in gone:
                row = db.execute("SELECT deadline FROM agents WHERE name = ?", (name,)).fetchone()
                if row is None:
                    continue  # another process already handled it
                if row[0] >= now and not sqlite_rows.still_gone(db, name):
                    continue  # it heartbeated meanwhile
                held = db.execute(f"SELECT {sqlite_rows.COLUMNS} FROM batches WHERE state = 1 AND owner = ?", (name,))
                moved += len(
                    self._apply(db, [(sqlite_rows.batch(row), machine.Expire(name)) for row in held.fetchall()])
                )
                db.execute("DELETE FROM agents WHERE name = ?", (name,))
                self._registered.pop(name, None)
        return moved

    def counters(self) -> base.Progress:
        row = (
            self._db()
            .execute(
                "SELECT total, pending, leased, done, failed, items_succeeded, items_failed, attempts, last_progress "
                "FROM counters WHERE id = 1"
            )
            .fetchone()
        )
        return base.Progress(*row)

    def reset_failed(self) -> int:
        db = self._db()
        with self._write():
            rows = db.execute(f"SELECT {sqlite_rows.COLUMNS} FROM batches WHERE state = 3").fetchall()
            return len(self._apply(db, [(sqlite_rows.batch(row), machine.Reset()) for row in rows]))

    def records(self, state: str | None = None) -> list[base.BatchRecord]:
        sql = "SELECT idx, state, attempts, owner, error, succeeded, failed FROM batches"
        args: Iterable[Any] = ()
        if state is not None:
            sql += " WHERE state = ?"
            args = (base.STATES.index(state),)
        rows = self._db().execute(sql + " ORDER BY idx", tuple(args)).fetchall()
        return [base.BatchRecord(i, sqlite_rows.STATE_NAMES[s], a, o, e, ok, bad) for i, s, a, o, e, ok, bad in rows]

    def __repr__(self) -> str:
        return f"SqliteCoordinator({self.db_path!r})"
