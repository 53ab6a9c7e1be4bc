"""API cost of a whole ParallelJob on Kubernetes (issue 11 acceptance: at most
0.01 API writes per mini-batch for 10,000 mini-batches with 8 agents),
measured end to end on the real control plane (tests/cluster: kube-apiserver,
etcd, kube-controller-manager and kube-scheduler built from upstream modules;
real API latency): the real operator (``pjob operator run``, with the chart's
ServiceAccount token), real ``pjob agent`` processes in the stand-in kubelet's
pods, the API server's audit log counting every request. Counts every write: the operator's children, status
writes and events, the agents' queue writes and Leases.

    .venv/bin/python bench/kube_api_cost.py [--total 10000] [--agents 8] [--workers 2]

(``bench/coord_kube_api_cost.py`` measures the coordinator alone.)
``run_job`` is also used by tests/kube/test_operator_api_cost.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "def run(mini_batch):\n    return mini_batch\n"


def _config(root: Path, path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "datastores": {
                    "default": "default",
                    "items": {"default": {"type": "pvc", "claimName": "pjob-datastore", "mountPath": str(root)}},
                },
                "worker": {
                    "image": "pjob-bench",
                    "workDir": "/scratch/home",
                    "env": [{"name": "HOME", "value": "/scratch/home"}, {"name": "TMPDIR", "value": "/scratch/tmp"}],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "work", "emptyDir": {}},
                        {"name": "datastore", "persistentVolumeClaim": {"claimName": "pjob-datastore"}},
                    ],
                    "volumeMounts": [
                        {"name": "tmp", "mountPath": "/scratch/tmp"},
                        {"name": "work", "mountPath": "/scratch/home"},
                        {"name": "datastore", "mountPath": str(root)},
                    ],
                },
            }
        )
    )
    return path


def run_job(
    server, workdir: Path, *, total: int, agents: int, workers: int, observe_seconds: float = 1.0, timeout: float = 600
) -> dict:
    """Run one ParallelJob of ``total`` one-file mini-batches; returns the
    final status and the writes, by client and by resource."""
    root = workdir / "ds"
    data = root / "data" / "files"
    data.mkdir(parents=True)
    for i in range(total):
        (data / f"f{i:06d}.txt").write_text(f"{i}\n")
    (root / "code").mkdir()
    (root / "code" / "echo.py").write_text(SCRIPT)
    server.bind_claim("pjob-datastore", root)
    server.cluster.apply_crds()
    env = {
        **os.environ,
        "KUBECONFIG": str(server.cluster.operator_kubeconfig),
        "PJOB_DATASTORE_ROOT": str(root),
        "PJOB_CONFIG_FILE": str(_config(root, workdir / "config.json")),
        "PJOB_OBSERVE_SECONDS": str(observe_seconds),
        "PJOB_LEASE_SECONDS": "30",
    }
    log = open(workdir / "operator.log", "wb")
    operator = subprocess.Popen(
        [sys.executable, "-m", "pjob.cli", "operator", "run", "--standalone", "-A"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        server.wait_for(
            lambda: any(r.verb == "watch" and r.resource == "paralleljobs" for r in server.requests),
            timeout=60,
            message="the operator to watch",
        )
        server.clear_requests()
        started = time.monotonic()
        server.apply(
            {
                "apiVersion": "pjob.dev/v1alpha1",
                "kind": "ParallelJob",
                "metadata": {"name": "cost", "namespace": "default"},
                "spec": {
                    "type": "parallel",
                    "inputs": {"files": {"type": "uri_folder", "path": str(data)}},
                    "outputs": {"out": {"type": "uri_file"}},
                    "input_data": "${{inputs.files}}",
                    "mini_batch_size": "1",
                    "max_concurrency_per_instance": workers,
                    "resources": {"instance_count": agents},
                    "task": {
                        "code": str(root / "code"),
                        "entry_script": "echo.py",
                        "append_row_to": "${{outputs.out}}",
                    },
                },
            }
        )

        def finished():
            obj = server.get("pjob.dev/v1alpha1", "paralleljobs", "cost", "default")
            status = (obj or {}).get("status") or {}
            return status if status.get("state") in ("Succeeded", "Failed") else None

        status = server.wait_for(finished, timeout=timeout, interval=0.2, message="the job to finish")
        elapsed = time.monotonic() - started
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        log.close()
    by_client: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in server.writes():
        client = (
            "operator"
            if ("pjob-operator" in r.user_agent or "kopf" in r.user_agent)
            else "agents"
            if "pjob-agent" in r.user_agent
            else "other"
        )
        by_client[client][f"{r.verb} {r.resource}{'/' + r.subresource if r.subresource else ''}"] += 1
    conflicts = sum(1 for r in server.writes() if r.code == 409 and "pjob-agent" in r.user_agent)
    writes = sum(sum(c.values()) for client, c in by_client.items() if client != "other")
    return {
        "status": status,
        "elapsed": elapsed,
        "writes": writes,
        "per_mini_batch": writes / total,
        "by_client": {k: dict(v) for k, v in by_client.items()},
        "agent_conflicts": conflicts,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="worker processes per agent")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    from realkube.harness import Cluster, venv_image

    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp) / "cluster").start({"pjob-bench": venv_image()})
        try:
            server = cluster.for_test()
            r = run_job(server, Path(tmp), total=args.total, agents=args.agents, workers=args.workers)
            server.close()
        finally:
            cluster.stop()
    s = r["status"]
    print(
        f"{args.total} mini-batches, {args.agents} agents x {args.workers} workers: {s['state']} "
        f"in {r['elapsed']:.1f} s ({s.get('miniBatches')})"
    )
    print(
        f"API writes: {r['writes']} = {r['per_mini_batch']:.4f} per mini-batch (target <= 0.01); "
        f"{r['agent_conflicts']} of the agents' writes were 409 conflicts"
    )
    for client, counts in sorted(r["by_client"].items()):
        print(f"  {client}: {sum(counts.values())}  {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    main()
