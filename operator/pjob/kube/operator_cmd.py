"""``pjob operator run`` (the kopf operator; the chart's Deployment runs it)
and ``pjob operator render FILE`` (print, offline, every object the operator
would create for a job YAML). Registered in ``pjob.cli`` as ``operator``.
kopf is imported only by ``run``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pjob.kube import render as rendering
from pjob.kube.config import OperatorConfig
from pjob.spec import checks, errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="operator_command", metavar="SUBCOMMAND")
    run = sub.add_parser("run", help="run the operator (kopf) against the cluster in the kubeconfig / service account")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace", "-n", action="append", default=[], metavar="NS", help="serve jobs in this namespace (repeatable)"
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="serve jobs in every namespace (default)")
    run.add_argument("--liveness", metavar="URL", help="serve kopf's health endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="P",
        help="serve Prometheus metrics of every job on http://0.0.0.0:P/metrics",
    )
    run.add_argument("--standalone", action="store_true", help="no peering with other operators (one replica)")
    run.add_argument("--verbose", action="store_true", help="debug logging")
    render = sub.add_parser("render", help="print every object the operator would create for a job YAML")
    render.add_argument("file", help="pipeline or parallel job YAML")
    render.add_argument(
        "--namespace", "-n", default="default", help="namespace of the rendered objects (default: default)"
    )
    render.add_argument("--name", help="name of the custom resource (default: from the YAML)")
    render.add_argument(
        "--datastore-root", help="datastore mount path in the pods (default: the operator config's, /mnt/pjob)"
    )


def main(args: argparse.Namespace) -> int:
    if args.operator_command == "render":
        return _render(args)
    if args.operator_command == "run":
        return _run(args)
    raise errors.UserError("give a subcommand: pjob operator run | pjob operator render FILE", field="operator")


def _render(args: argparse.Namespace) -> int:
    loaded = checks.load_and_check(args.file)
    env = dict(os.environ)
    if args.datastore_root:
        env["PJOB_DATASTORE_ROOT"] = args.datastore_root
    config = OperatorConfig.load(env)
    objects = rendering.render(loaded, namespace=args.namespace, name=args.name, config=config)
    sys.stdout.write(rendering.to_yaml_stream(objects))
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio

    import kopf

    from pjob.kube import handlers, kubeio, operations

    level = (
        logging.DEBUG
        if args.verbose
        else getattr(logging, os.environ.get("PJOB_LOG_LEVEL", "INFO").upper(), logging.INFO)
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = OperatorConfig.load()
    registry = kopf.OperatorRegistry()
    handlers.register(registry, config)
    api = kubeio.KubeApi()
    memo = kopf.Memo(config=config, kube=api, **operations.memo_entries(config, api))
    if args.metrics_port:  # the handlers feed it every job's counters (handlers.observe_metrics)
        from pjob.engine import metrics

        memo.metrics = metrics.JobMetrics()
        memo.metrics.serve(args.metrics_port, addr="0.0.0.0")
    namespaces = list(args.namespace)
    asyncio.run(
        kopf.operator(
            registry=registry,
            memo=memo,
            standalone=args.standalone,
            clusterwide=not namespaces,
            namespaces=namespaces or (),
            liveness_endpoint=args.liveness,
        )
    )
    return 0
