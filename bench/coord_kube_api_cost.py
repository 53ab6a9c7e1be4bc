"""API cost of the Kubernetes coordinator (issue 5 acceptance: <= 0.05 API
writes per mini-batch for 10,000 mini-batches with 4 agents).

    .venv/bin/python bench/coord_kube_api_cost.py [--total 10000] [--agents 4] [--prefetch 32]

Starts the real control plane (tests/cluster: kube-apiserver and etcd built
from upstream modules; real API latency), then ``agents``
real processes that drain one queue the way ``pjob.engine.agent`` does: claim
as many mini-batches as idle workers (2), report their outcomes with
``complete_many``, heartbeat every ``--heartbeat`` seconds, ``close()`` at
the end. Prints writes per resource and per mini-batch, and the ConfigMap
size. ``run_agents`` is also used by tests/unit/coord/test_kube_coordinator.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import random
import sys
import time
from pathlib import Path

CLUSTER_DIR = Path(__file__).resolve().parents[1] / "tests" / "cluster"


def _agent(
    kubeconfig: str, namespace: str, job: str, name: str, kwargs: dict, heartbeat: float, fail_rate: float, seed: int
) -> None:
    from kubernetes import config
    from pjob.coord import base, kube
    from pjob.queue import batching

    rng = random.Random(seed)
    api = config.new_client_from_config(config_file=kubeconfig)
    c = batching.Batcher(kube.KubeCoordinator(api, namespace, job, **kwargs), name)  # as the agent does
    last_beat = time.monotonic()
    give_up = time.monotonic() + 120  # a broken coordinator must fail the caller, not hang it
    while True:
        if time.monotonic() > give_up:
            raise SystemExit(3)
        leases = c.claim(name, 2)
        if not leases:
            p = c.counters()
            if p.pending == 0 and p.leased == 0:
                break
            time.sleep(0.02)
            continue
        done = []
        for lease in leases:
            if rng.random() < fail_rate:
                c.fail(lease, "simulated exception")
            else:
                done.append((lease, base.Outcome(items=1, succeeded=1, failed=0)))
        c.complete_many(done)
        if time.monotonic() - last_beat > heartbeat:
            c.heartbeat(name)
            last_beat = time.monotonic()
    c.close()
    api.close()


def run_agents(
    server,
    total: int,
    agents: int,
    namespace: str = "default",
    job: str = "cost",
    heartbeat: float = 5.0,
    fail_rate: float = 0.0,
    **kwargs,
) -> dict:
    """Drain a fresh queue of ``total`` mini-batches with ``agents`` processes;
    returns counters, writes by resource and the ConfigMap's data size."""
    from pjob.coord import kube

    server.ensure_namespace(namespace)
    api = server.client()
    kube.KubeCoordinator(api, namespace, job, total, **kwargs).close()
    server.clear_requests()
    ctx = multiprocessing.get_context("fork")
    t0 = time.perf_counter()
    procs = [
        ctx.Process(
            target=_agent,
            args=(str(server.kubeconfig_path), namespace, job, f"agent-{i}", kwargs, heartbeat, fail_rate, i),
        )
        for i in range(agents)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    writes = collections.Counter(r.resource for r in server.writes())
    reads = sum(1 for r in server.requests if not r.is_write)
    coord = kube.KubeCoordinator(api, namespace, job, **kwargs)
    progress = coord.counters()
    cm = server.get("v1", "configmaps", kube.queue_name(job), namespace)
    api.close()
    return {
        "exitcodes": [p.exitcode for p in procs],
        "progress": progress,
        "writes": dict(writes),
        "reads": reads,
        "elapsed": elapsed,
        "configmap_bytes": len(json.dumps(cm["data"])),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--prefetch", type=int, default=64)
    ap.add_argument("--heartbeat", type=float, default=5.0)
    ap.add_argument("--fail-rate", type=float, default=0.0)
    args = ap.parse_args()
    sys.path.insert(0, str(CLUSTER_DIR))
    import tempfile

    from realkube.harness import Cluster

    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp)).start({})
        try:
            r = run_agents(
                cluster.for_test(),
                args.total,
                args.agents,
                heartbeat=args.heartbeat,
                fail_rate=args.fail_rate,
                prefetch=args.prefetch,
            )
        finally:
            cluster.stop()
    n_writes = sum(r["writes"].values())
    print(f"mini-batches {args.total}, agents {args.agents}, prefetch {args.prefetch}: {r['elapsed']:.1f} s")
    print(f"  progress   {r['progress']}")
    print(f"  writes     {n_writes} = {n_writes / args.total:.4f} per mini-batch  {r['writes']}")
    print(f"  reads      {r['reads']} = {r['reads'] / args.total:.3f} per mini-batch")
    print(f"  ConfigMap  {r['configmap_bytes']} bytes of data")


if __name__ == "__main__":
    main()
