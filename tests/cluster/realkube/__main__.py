"""`make cluster` / `make cluster-down`: a real cluster on this machine, by hand.

    python -m realkube build                   build the control-plane binary (cached); one line and exit 0 without Go
    python -m realkube up   [--dir .cluster]   start it in the background, wait until ready, print how to use it
    python -m realkube down [--dir .cluster]   stop everything `up` started
    python -m realkube serve [--dir .cluster]  (what `up` runs in the background)

`serve` runs the control plane, the stand-in kubelet, the CRDs and the chart's RBAC, and the
pjob operator with the chart's ServiceAccount token; the datastore is `<dir>/datastore`
(the `pjob-datastore` claim of namespace default), the admin kubeconfig `<dir>/kubeconfig`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def serve(folder: Path) -> int:
    sys.path.insert(0, str(REPO / "tests" / "kube"))
    from operator_support import TEST_IMAGE, write_operator_config
    from realkube.harness import Cluster, venv_image

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cluster = Cluster(folder / "state")
    operator = None
    try:
        cluster.start({TEST_IMAGE: venv_image()})
        api = cluster.for_test()
        datastore = folder / "datastore"
        api.bind_claim("pjob-datastore", datastore)
        config = write_operator_config(datastore, folder / "operator-config.json")
        env = {
            **os.environ,
            "KUBECONFIG": str(cluster.operator_kubeconfig),
            "PJOB_DATASTORE_ROOT": str(datastore),
            "PJOB_CONFIG_FILE": str(config),
            "PYTHONUNBUFFERED": "1",
        }
        with (folder / "operator.log").open("ab") as log:
            operator = subprocess.Popen(
                [sys.executable, "-m", "pjob.cli", "operator", "run", "--standalone", "-A"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        shutil.copy(cluster.kubeconfig_path, folder / "kubeconfig")
        kubectl = folder / "kubectl"  # the real kubectl built into the control-plane binary
        kubectl.write_text(
            f'#!/bin/sh\nexec "{cluster.plane.binary}" kubectl --kubeconfig "{folder / "kubeconfig"}" "$@"\n'
        )
        kubectl.chmod(0o755)
        (folder / "ready").write_text(json.dumps({"server": cluster.plane.server, "operator": operator.pid}))
        while not stop.wait(1):
            if operator.poll() is not None:
                print(f"the operator exited with {operator.returncode}; see {folder / 'operator.log'}", file=sys.stderr)
                return 1
        return 0
    finally:
        if operator is not None and operator.poll() is None:
            operator.terminate()
            try:
                operator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                operator.kill()
        cluster.stop()
        (folder / "ready").unlink(missing_ok=True)


def up(folder: Path) -> int:
    from realkube import build

    try:
        build.find_or_build()
    except build.Unavailable as error:
        print(f"make cluster: {error}", file=sys.stderr)
        return 2
    pid_file = folder / "serve.pid"
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        print(f"a cluster is already running from {folder} (make cluster-down stops it)")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ready").unlink(missing_ok=True)
        with (folder / "cluster.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "realkube", "serve", "--dir", str(folder)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
            )
        pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + 300
        while not (folder / "ready").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                print((folder / "cluster.log").read_text(errors="replace")[-4000:], file=sys.stderr)
                print(f"make cluster: the cluster did not start (log: {folder / 'cluster.log'})", file=sys.stderr)
                return 1
            time.sleep(0.3)
    info = json.loads((folder / "ready").read_text())
    print(
        f"cluster up: {info['server']}\n  kubeconfig: {folder / 'kubeconfig'} (cluster admin)\n"
        f"  datastore:  {folder / 'datastore'}\n  operator log: {folder / 'operator.log'}\n"
        f"  kubectl:    {folder / 'kubectl'} get pj,plj,jobs,pods\n"
        f"try: .venv/bin/pjob submit examples/batch-scoring/pipeline.yml --kubeconfig {folder / 'kubeconfig'} --wait\n"
        "stop: make cluster-down"
    )
    return 0


def down(folder: Path) -> int:
    pid_file = folder / "serve.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        pid_file.unlink()
    from realkube.controlplane import ControlPlane

    ControlPlane(folder / "state" / "controlplane").stop()  # whatever a killed `serve` left behind
    print("cluster down")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def build_only(folder: Path) -> int:
    from realkube import build

    try:
        print(f"test control plane: {build.find_or_build().relative_to(REPO)}")
    except build.Unavailable as error:
        print(f"note: {error}; the Kubernetes tier (tests/kube) will be skipped")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m realkube")
    parser.add_argument("command", choices=["build", "up", "down", "serve"])
    parser.add_argument("--dir", default=str(REPO / ".cluster"))
    args = parser.parse_args()
    folder = Path(args.dir).resolve()
    return {"build": build_only, "up": up, "down": down, "serve": serve}[args.command](folder)


if __name__ == "__main__":
    sys.exit(main())
