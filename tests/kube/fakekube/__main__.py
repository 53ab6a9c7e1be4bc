"""`python -m fakekube --port N`: run the fake API server (and kubelet) in the foreground for debugging.

Run from tests/kube (or with it on PYTHONPATH). Prints the URL and the kubeconfig path; point
`KUBECONFIG` at it and use the kubernetes client, kopf or `pjob` against it. Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from fakekube.api import FakeApiServer
from fakekube.kubelet import FakeKubelet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakekube", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: random)")
    parser.add_argument("--workdir", default=None, help="folder for the kubeconfig, pod logs and volumes")
    parser.add_argument("--no-kubelet", action="store_true", help="do not run Jobs' pods")
    parser.add_argument("--crds", nargs="*", default=[], help="YAML files to apply at start (e.g. crds/*.yaml)")
    args = parser.parse_args(argv)
    server = FakeApiServer(port=args.port, workdir=args.workdir).start()
    kubelet = None if args.no_kubelet else FakeKubelet(server).start()
    for path in args.crds:
        server.apply_yaml(path)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"fakekube API server: {server.url}")
    print(f"export KUBECONFIG={server.kubeconfig_path}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if kubelet is not None:
            kubelet.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
