"""Benchmark of the SQLite coordinator's per-mini-batch cost (not run by CI).

    .venv/bin/python bench/coord_sqlite.py [--total 20000] [--agents 1 2 4]

For each agent count and each claim/complete pattern, starts that many real
processes that drain a fresh queue and prints microseconds per mini-batch
(wall time of the whole drain / total). The engine's budget: 20,000 one-file
mini-batches at <= 2x a plain multiprocessing.Pool, so this must stay well
under a millisecond per mini-batch.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time

from pjob.coord import base, sqlite

PATTERNS = {
    # name: (claim chunk, complete in batches of)
    "claim1/complete1": (1, 1),
    "claim4/complete1": (4, 1),
    "claim8/complete_many8": (8, 8),
}


def drain(path: str, agent: str, chunk: int, batch: int) -> None:
    c = sqlite.SqliteCoordinator(path)
    pending: list[tuple[base.Lease, base.Outcome]] = []
    while True:
        leases = c.claim(agent, chunk)
        if not leases:
            break
        for lease in leases:
            pending.append((lease, base.Outcome(items=1, succeeded=1, failed=0)))
            if len(pending) >= batch:
                c.complete_many(pending)
                pending = []
    if pending:
        c.complete_many(pending)


def run(total: int, agents: int, chunk: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "queue.db")
        t0 = time.perf_counter()
        sqlite.SqliteCoordinator(path, total).close()
        created = time.perf_counter() - t0
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=drain, args=(path, f"a{i}", chunk, batch)) for i in range(agents)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t0
        p = sqlite.SqliteCoordinator(path).counters()
        assert p.done == total, p
        print(f"  create {created * 1e3:7.1f} ms", end="")
        return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=20_000)
    ap.add_argument("--agents", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    for agents in args.agents:
        for name, (chunk, batch) in PATTERNS.items():
            print(f"agents={agents} {name:24s}", end="")
            elapsed = run(args.total, agents, chunk, batch)
            print(f"  drain {elapsed:6.2f} s  = {elapsed / args.total * 1e6:7.1f} us/mini-batch")


if __name__ == "__main__":
    main()
