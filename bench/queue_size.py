"""The largest Kubernetes object the coordinator writes (issue 11): the queue
ConfigMap of a job of 10^4, 10^5 and 10^6 mini-batches with 0%, 10% and 50%
random failures and alternating failures, 8 agents claiming 64 at a time and
completing them in any order, every mini-batch going through the queue's pure
machine and the Kubernetes backend's encoding (``pjob.coord.kube_state``), no
API server. The size is the ConfigMap as JSON (data values plus a generous
allowance for metadata), taken several times during the run and at the end.

    .venv/bin/python bench/queue_size.py [--max 1000000]

Prints the figures; exits 1 if any object exceeds 256 KiB.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from pjob.coord import kube_state
from pjob.queue import protocol

LIMIT = 256 * 1024
METADATA_BYTES = 1024  # name, namespace, labels, ownerReferences, resourceVersion, managedFields aside
AGENTS, CHUNK, MAX_ATTEMPTS = 8, 2048, 3  # CHUNK: KubeCoordinator's prefetch, the most one claim takes
ERROR = "Traceback (most recent call last): ... ValueError: " + "x" * 2000  # long errors are cut
PATTERNS = {  # which mini-batches fail (every attempt: retried, then failed for good)
    "0%": lambda n, rng: bytes(n),
    "10%": lambda n, rng: bytes(rng.random() < 0.10 for _ in range(n)),
    "50%": lambda n, rng: bytes(rng.random() < 0.50 for _ in range(n)),
    "alternating": lambda n, rng: bytes(i % 2 for i in range(n)),
}


def object_bytes(state: kube_state.QueueState) -> int:
    return len(json.dumps({"data": state.encode()}, separators=(",", ":"))) + METADATA_BYTES


def simulate(total: int, pattern: str, seed: int = 11, samples: int = 8) -> tuple[int, protocol.Progress]:
    """Run a whole job through the encoding; returns (largest object, final counters)."""
    rng = random.Random(seed)
    fails = PATTERNS[pattern](total, rng)
    state = kube_state.QueueState(total=total, max_attempts=MAX_ATTEMPTS)
    agents = [f"pjob-job-worker-{i}-x7k2p" for i in range(AGENTS)]
    largest, next_sample, every = 0, total // samples, max(1, total // samples)
    ok = protocol.Outcome(1, 1, 0)
    while True:
        got = [(agent, lease) for agent in agents for lease in state.claim(agent, CHUNK)]
        if not got:
            break
        # a sample while every agent holds a chunk: the in-flight part is at its largest
        if state.cursor >= next_sample:
            largest = max(largest, object_bytes(state))
            next_sample += every
        rng.shuffle(got)
        for agent, (index, attempt) in got:
            if fails[index]:
                state.fail(agent, index, attempt, ERROR, retryable=True, items=1, now=0.0)
            else:
                state.complete(agent, index, attempt, ok, now=0.0)
    largest = max(largest, object_bytes(state))
    return largest, state.progress()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=1_000_000, help="largest job size (powers of ten from 10^4)")
    args = ap.parse_args()
    sizes = [n for n in (10_000, 100_000, 1_000_000, 10_000_000) if n <= args.max]
    worst = 0
    print(
        f"largest queue ConfigMap (bytes; limit {LIMIT}), {AGENTS} agents x {CHUNK} in flight, "
        f"max_attempts {MAX_ATTEMPTS}"
    )
    print(f"{'mini-batches':>12} " + " ".join(f"{p:>12}" for p in PATTERNS))
    for total in sizes:
        row = []
        for pattern in PATTERNS:
            started = time.monotonic()
            size, p = simulate(total, pattern)
            assert p.done + p.failed == total and p.leased == 0 and p.pending == 0, p
            worst = max(worst, size)
            row.append(f"{size:>12}")
            print(
                f"  ({pattern} at {total}: {size} bytes, {p.failed} failed, {time.monotonic() - started:.1f}s)",
                file=sys.stderr,
            )
        print(f"{total:>12} " + " ".join(row))
    verdict = "OK" if worst <= LIMIT else "OVER"
    print(f"largest object: {worst} bytes ({worst / 1024:.1f} KiB): {verdict} (limit {LIMIT / 1024:.0f} KiB)")
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
