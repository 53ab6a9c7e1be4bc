"""The largest Kubernetes object the coordinator writes (issue 11): the queue
ConfigMap and its shard ConfigMaps for a job of 10^4 to 10^7 mini-batches
with 0%, 10% and 50% random failures and alternating failures, 8, 64 and
1,024 agents each claiming what ``KubeCoordinator`` lets one claim take
(``kube_encoding.prefetch_for``: 2048, 256 and 16) and completing them in
any order, every mini-batch going through the
queue's pure machine and the Kubernetes backend's real encoding
(``pjob.coord.kube_state``, ``pjob.coord.kube_shards``): a write carries at
most ``MAX_CHANGES`` outcomes, the journal is folded into the shards when due
(``QueueState.fold``, as ``pjob.coord.kube`` does), no API server. The size
of an object is its data as JSON plus a generous allowance for metadata; the
queue ConfigMap is measured just before every fold (its journal at its
longest) and at the end, the shards at the end (every fact in them).

    .venv/bin/python bench/queue_size.py [--min 10000] [--max 10000000] [--patterns 0%,10%,50%,alternating]
        [--agents 8,64,1024]

(10^7 takes several minutes per pattern.)

Prints the figures (largest object, objects written); exits 1 if any object
exceeds 256 KiB.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from pjob.coord import kube_encoding, kube_shards, kube_state
from pjob.queue import protocol

LIMIT = 256 * 1024
METADATA_BYTES = 1024  # name, namespace, labels, ownerReferences, resourceVersion, managedFields aside
MAX_ATTEMPTS = 3
ERROR = "Traceback (most recent call last): ... ValueError: " + "x" * 2000  # long errors are cut
PATTERNS = {  # which mini-batches fail (every attempt: retried, then failed for good)
    "0%": lambda n, rng: bytes(n),
    "10%": lambda n, rng: bytes(rng.random() < 0.10 for _ in range(n)),
    "50%": lambda n, rng: bytes(rng.random() < 0.50 for _ in range(n)),
    "alternating": lambda n, rng: bytes(i % 2 for i in range(n)),
}


def object_bytes(data: dict[str, str]) -> int:
    return len(json.dumps({"data": data}, separators=(",", ":"))) + METADATA_BYTES


def simulate(total: int, pattern: str, agent_count: int = 8, seed: int = 11) -> tuple[int, int, int, protocol.Progress]:
    """Run a whole job through the encoding with ``agent_count`` agents; returns
    (largest queue ConfigMap, largest shard, number of shards, final counters)."""
    chunk = kube_encoding.prefetch_for(agent_count)  # KubeCoordinator's prefetch: the most one claim takes
    rng = random.Random(seed)
    fails = PATTERNS[pattern](total, rng)
    store = kube_shards.MemoryShards()
    state = kube_state.QueueState(total=total, max_attempts=MAX_ATTEMPTS, load_shard=store.load)
    agents = [f"pjob-job-worker-{i}-x7k2p" for i in range(agent_count)]
    largest = 0
    ok = protocol.Outcome(1, 1, 0)

    def write() -> None:  # one queue write: folds first when due (the queue ConfigMap at its largest)
        nonlocal largest
        state.close_write()
        if state.fold_due():
            largest = max(largest, object_bytes(state.encode()))
            state.fold(store.load, store.save)

    while True:
        got = []
        for agent in agents:
            got += [(agent, lease) for lease in state.claim(agent, chunk)]
            write()
        if not got:
            break
        largest = max(largest, object_bytes(state.encode()))  # every agent holds a chunk: in flight at its largest
        rng.shuffle(got)
        for n, (agent, (index, attempt)) in enumerate(got, 1):
            if fails[index]:
                state.fail(agent, index, attempt, ERROR, retryable=True, items=1, now=0.0)
            else:
                state.complete(agent, index, attempt, ok, now=0.0)
            if n % kube_shards.MAX_CHANGES == 0:
                write()
        write()
    largest = max(largest, object_bytes(state.encode()))
    shard = max((object_bytes(data) for data in store.data.values()), default=0)
    return largest, shard, len(store.data), state.progress()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=10_000_000, help="largest job size (powers of ten from 10^4)")
    ap.add_argument("--min", type=int, default=10_000, help="smallest job size")
    ap.add_argument("--patterns", default=",".join(PATTERNS), help="failure patterns, comma-separated")
    ap.add_argument("--agents", default="8,64,1024", help="numbers of agents, comma-separated")
    args = ap.parse_args()
    sizes = [n for n in (10_000, 100_000, 1_000_000, 10_000_000) if args.min <= n <= args.max]
    patterns = args.patterns.split(",")
    worst = 0
    print(
        f"largest object (bytes; limit {LIMIT}): queue ConfigMap / largest shard ConfigMap (shards), "
        f"max_attempts {MAX_ATTEMPTS}, {kube_shards.SHARD_SIZE} mini-batches per shard"
    )
    for agent_count in [int(a) for a in args.agents.split(",")]:
        chunk = kube_encoding.prefetch_for(agent_count)
        print(f"{agent_count} agents x {chunk} in flight")
        print(f"{'mini-batches':>12} " + " ".join(f"{p:>24}" for p in patterns))
        for total in sizes:
            row = []
            for pattern in patterns:
                started = time.monotonic()
                queue, shard, count, p = simulate(total, pattern, agent_count)
                assert p.done + p.failed == total and p.leased == 0 and p.pending == 0, p
                assert count <= -(-total // kube_shards.SHARD_SIZE), count  # ceil(N / shard size) at most
                worst = max(worst, queue, shard)
                row.append(f"{f'{queue} / {shard} ({count})':>24}")
                print(
                    f"  ({agent_count} agents, {pattern} at {total}: queue {queue} bytes, largest of {count} "
                    f"shard(s) {shard} bytes, {p.failed} failed, {time.monotonic() - started:.1f}s)",
                    file=sys.stderr,
                )
            print(f"{total:>12} " + " ".join(row))
    verdict = "OK" if worst <= LIMIT else "OVER"
    print(f"largest object: {worst} bytes ({worst / 1024:.1f} KiB): {verdict} (limit {LIMIT / 1024:.0f} KiB)")
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
