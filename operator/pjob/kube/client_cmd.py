"""``pjob submit / status / logs / cancel``: the user's side of a cluster,
through the kubeconfig like kubectl (``--kubeconfig``, else ``$KUBECONFIG``,
else ``~/.kube/config``; ``--context``; the context's namespace is the default
``-n``). Also ``submit_loaded``, what ``pjob.sdk.client.submit`` calls.

- submit: validate here (files checked), ship code and local inputs
  (``pjob.kube.ship``), create the ParallelJob (``type: parallel``) or
  PipelineJob. ``--dry-run`` prints the CR, the shipped ConfigMaps and the
  uploads as a YAML stream and touches nothing.
- status: state, progress, counters, conditions, steps, recent Events. Exits 0
  whenever it could show the status, whatever the job's state (like kubectl).
- logs: ``job_result.txt`` (every step's, or ``--step``'s), or one mini-batch's
  worker records (``--mini-batch N``), read from the datastore, which this
  machine must see (``--datastore-root`` / ``$PJOB_DATASTORE_ROOT`` when the
  pods' paths differ from this machine's); ``--follow`` waits for the end.
- cancel: deletes the CR; its children are garbage-collected.

What status and logs print is computed by ``pjob.kube.client_view`` (pure);
the kubeconfig, the connection and the exit codes are ``pjob.kube.client_connect``'s;
user documentation: docs/client.md.

Exit codes: 0 done, 1 cluster-side failure (unreachable, CRDs missing,
NotFound, Forbidden, AlreadyExists), 2 bad input (``UserError``). One-line
errors; tracebacks only with ``--debug``. No credential is ever printed: the
only values echoed are names, paths and URLs without user info.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from pjob.kube import builders, client_view, ship
from pjob.kube import constants as c
from pjob.kube.client_connect import ClusterError, connect, crds_installed, default_namespace, find_job, guard
from pjob.spec import checks, errors, load

if TYPE_CHECKING:
    from pjob.kube.kubeio import KubeApi

FOLLOW_SECONDS = float(os.environ.get("PJOB_FOLLOW_SECONDS") or 3)


# --- arguments ---------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, name: bool = True) -> None:
    if name:
        p.add_argument("name", metavar="NAME", help="the ParallelJob or PipelineJob")
    p.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")


def _datastore_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--datastore-root",
        metavar="PATH_OR_URL",
        default=os.environ.get("PJOB_DATASTORE_ROOT") or None,
        help=f"where the cluster's datastore is reachable from here, {what} (default: $PJOB_DATASTORE_ROOT)",
    )


def add_submit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="job YAML (type: pipeline or parallel)")
    _common(p, name=False)
    p.add_argument("--name", help="name of the custom resource (default: the job's name plus a random suffix)")
    p.add_argument("--dry-run", action="store_true", help="print the CR and what would be shipped; touch nothing")
    p.add_argument(
        "--wait",
        action="store_true",
        help="follow the job to its end, printing progress; exit 0 when it succeeded, 1 when it failed",
    )
    _datastore_arg(
        p,
        "a folder shared with the pods or an fsspec URL (s3://bucket/pjob); local inputs and big "
        "code folders go there. Without it everything travels in ConfigMaps (< 900 KiB each)",
    )


def add_status_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)


def add_logs_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--step", help="a pipeline step (default: every step's job_result.txt)")
    p.add_argument("--mini-batch", type=int, metavar="N", help="one mini-batch's worker log records")
    p.add_argument("--follow", action="store_true", help="wait until the job is terminal, showing progress")
    _datastore_arg(p, "for reading logs")


def add_cancel_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)


# --- submit ------------------------------------------------------------------------------------------------


def generated_name(loaded: load.LoadedJob) -> str:
    stem = builders.default_cr_name(loaded)[:33].rstrip("-")
    return f"{stem}-{''.join(secrets.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(5))}"


def build_submission(
    loaded: load.LoadedJob, *, namespace: str, name: str, datastore: str | None
) -> tuple[dict[str, Any], ship.Shipment]:
    """(CR, Shipment): pure apart from reading the shipped files."""
    if datastore and not ship.is_url(datastore):
        if not os.path.isdir(datastore):
            raise errors.UserError(
                [
                    errors.Problem(
                        "--datastore-root",
                        None,
                        "",
                        f"{datastore} is not a folder; give the "
                        "folder where the cluster's datastore is mounted here, or a URL",
                    )
                ]
            )
        datastore = os.path.abspath(datastore)
    shipment = ship.plan(loaded, namespace=namespace, name=name, datastore=datastore)
    cr = builders.build_job_cr(loaded, namespace=namespace, name=name, base_dir=shipment.base_dir)
    cr["spec"] = ship.rewrite_spec(cr["spec"], shipment, loaded.base_dir)
    cr["metadata"]["labels"] = {c.LABEL_MANAGED_BY: "pjob-submit"}
    if shipment.annotation:
        cr["metadata"]["annotations"][ship.ANNOTATION_SHIPPED] = json.dumps(shipment.annotation, sort_keys=True)
    return cr, shipment


def dry_run_stream(cr: dict[str, Any], shipment: ship.Shipment) -> str:
    from pjob.kube import render

    text = render.to_yaml_stream([cr] + shipment.configmaps)
    for up in shipment.uploads:
        text += (
            f"# upload {up.item.kind} {up.item.source} -> {ship.redact(up.destination)} "
            f"({len(up.files)} file(s), {up.size} bytes)\n"
        )
        text += "".join(f"#   {f}\n" for f in up.files[:50])
        text += f"#   ... and {len(up.files) - 50} more\n" if len(up.files) > 50 else ""
    return text


def submit_loaded(
    loaded: load.LoadedJob,
    *,
    namespace: str = "default",
    name: str | None = None,
    dry_run: bool = False,
    datastore_root: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Ship and create ``loaded`` (already checked); returns the CR as created
    (or as it would be, with ``dry_run``). Raises UserError / ClusterError."""
    out = out or sys.stdout
    name = name or generated_name(loaded)
    datastore = datastore_root if datastore_root is not None else os.environ.get("PJOB_DATASTORE_ROOT") or None
    cr, shipment = build_submission(loaded, namespace=namespace, name=name, datastore=datastore)
    if dry_run:
        out.write(dry_run_stream(cr, shipment))
        return cr
    api, _, _ = connect(argparse.Namespace(kubeconfig=kubeconfig, context=context, namespace=namespace))
    kind = cr["kind"]
    if api.get(kind, namespace, name) is not None:
        raise ClusterError(
            f"{kind} {namespace}/{name} already exists; `pjob cancel {name} -n {namespace}` or pass --name"
        )
    ship.upload(shipment)
    for cm in shipment.configmaps:  # content-addressed names: an existing one holds the same bytes
        api.create(cm)
    try:
        api.create(cr)
    except Exception as exc:
        from pjob.kube import kubeio

        if isinstance(exc, kubeio.ApiError) and exc.status == 404 and not crds_installed(api):
            raise ClusterError(
                f"the pjob CRDs ({c.API_VERSION}) are not installed in this cluster; install the chart "
                "(helm install pjob helm/pjob) or kubectl apply -f crds/"
            ) from None
        raise
    created = api.get(kind, namespace, name) or cr
    owner = {
        "apiVersion": c.API_VERSION,
        "kind": kind,
        "name": name,
        "uid": created["metadata"].get("uid"),
        "controller": True,
        "blockOwnerDeletion": False,
    }
    for cm in shipment.configmaps:  # garbage-collected with the job
        api._call(
            "PATCH",
            api._path("ConfigMap", namespace, cm["metadata"]["name"]),
            body={"metadata": {"ownerReferences": [owner]}},
            content_type="application/merge-patch+json",
        )
    out.write(f"{kind.lower()}.{c.GROUP}/{name} created in namespace {namespace}\n")
    for cm in shipment.configmaps:
        out.write(
            f"  shipped {cm['metadata']['annotations'][f'{c.GROUP}/shipped-path']} as ConfigMap {cm['metadata']['name']}\n"
        )
    for up in shipment.uploads:
        out.write(f"  shipped {up.item.source} to {ship.redact(up.destination)} ({len(up.files)} file(s))\n")
    out.write(f"follow it: pjob status {name} -n {namespace}; pjob logs {name} -n {namespace} --follow\n")
    return created


def submit_main(args: argparse.Namespace) -> int:
    loaded = checks.load_and_check(args.file)
    namespace = args.namespace or default_namespace(args)

    def run(a: argparse.Namespace) -> int:
        created = submit_loaded(
            loaded,
            namespace=namespace,
            name=a.name,
            dry_run=a.dry_run,
            datastore_root=a.datastore_root,
            kubeconfig=a.kubeconfig,
            context=a.context,
        )
        if not a.wait or a.dry_run:
            return 0
        api, _, _ = connect(a)
        obj = _follow(api, find_job(api, namespace, created["metadata"]["name"]))
        state = client_view.state_of(obj)
        print(
            f"{obj['kind']} {namespace}/{obj['metadata']['name']}: {state} "
            f"({client_view.progress_text(obj.get('status') or {})})"
        )
        return 0 if state == "Succeeded" else 1

    return guard(run, args)


# --- status ----------------------------------------------------------------------------------------------


def recent_events(api: KubeApi, obj: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    meta = obj["metadata"]
    items = api._call(
        "GET",
        f"/api/v1/namespaces/{meta['namespace']}/events",
        query=[("fieldSelector", f"involvedObject.name={meta['name']}")],
    )["items"]
    mine = [e for e in items if (e.get("involvedObject") or {}).get("kind") in (obj["kind"], None)]
    return sorted(mine, key=client_view.event_time)[-limit:]


def status_main(args: argparse.Namespace) -> int:
    def run(a: argparse.Namespace) -> int:
        api, namespace, _ = connect(a)
        obj = find_job(api, namespace, a.name)
        children = {}
        for step, entry in ((obj.get("status") or {}).get("steps") or {}).items():
            if entry.get("kind") == "parallel" and entry.get("child"):
                children[step] = api.get(c.PARALLEL_KIND, namespace, entry["child"]) or {}
        sys.stdout.write(client_view.format_status(obj, children, recent_events(api, obj)))
        return 0

    return guard(run, args)


# --- logs -----------------------------------------------------------------------------------------------------


def _follow(api: KubeApi, obj: dict[str, Any]) -> dict[str, Any]:
    meta, last = obj["metadata"], None
    while not client_view.terminal(obj):
        line = f"{client_view.state_of(obj)}: {client_view.progress_text(obj.get('status') or {})}"
        if line != last:
            print(line, file=sys.stderr, flush=True)
            last = line
        time.sleep(FOLLOW_SECONDS)
        obj = find_job(api, meta["namespace"], meta["name"])
    return obj


def logs_main(args: argparse.Namespace) -> int:
    def run(a: argparse.Namespace) -> int:
        api, namespace, _ = connect(a)
        obj = find_job(api, namespace, a.name)
        if a.follow:
            obj = _follow(api, obj)
        root = a.datastore_root if a.datastore_root and not ship.is_url(a.datastore_root) else None
        dirs = client_view.logs_dirs(obj, a.step)
        if a.mini_batch is not None:
            if len(dirs) != 1:
                raise errors.UserError([errors.Problem("--mini-batch", None, "", "name the parallel step: --step S")])
            _, logs = dirs[0]
            here = client_view.local_path(logs, namespace, root)
            text = client_view.mini_batch_log(here, a.mini_batch) if here else None
            if text is None:
                raise ClusterError(
                    f"no record of mini-batch {a.mini_batch} under {here or logs}"
                    + ("" if here else " (not reachable from here: pass --datastore-root)")
                )
            sys.stdout.write(text)
            return 0
        missing = 0
        for step, logs in dirs:
            here = client_view.local_path(logs, namespace, root)
            text = client_view.read_text(os.path.join(here, "job_result.txt")) if here else None
            if len(dirs) > 1:
                print(f"== step {step}")
            if text is None:
                missing += 1
                print(
                    f"(no job_result.txt yet in {here})"
                    if here
                    else f"(job_result.txt is in {logs} on the datastore, not reachable from here: pass --datastore-root "
                    "PATH where the datastore is mounted on this machine)",
                    file=sys.stderr,
                )
            else:
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if missing:  # still say how it ended
            conds = client_view.conditions_by_type(obj.get("status") or {})
            end = next(
                (conds[k] for k in (c.SUCCEEDED, c.FAILED, c.RUNNING) if (conds.get(k) or {}).get("status") == c.TRUE),
                None,
            )
            print(f"{obj['kind']} {a.name}: {client_view.state_of(obj)}" + (f" - {end.get('message')}" if end else ""))
        return 0

    return guard(run, args)


# --- cancel --------------------------------------------------------------------------------------------------


def cancel_main(args: argparse.Namespace) -> int:
    def run(a: argparse.Namespace) -> int:
        api, namespace, _ = connect(a)
        obj = find_job(api, namespace, a.name)
        owners = [o for o in obj["metadata"].get("ownerReferences") or [] if o.get("kind") == c.PIPELINE_KIND]
        if owners:
            raise ClusterError(
                f"{a.name} is a step of PipelineJob {owners[0]['name']}; cancel that: "
                f"pjob cancel {owners[0]['name']} -n {namespace}"
            )
        was = client_view.state_of(obj)
        if not api.delete(obj["kind"], namespace, a.name):
            raise ClusterError(f"{obj['kind']} {namespace}/{a.name} was already gone")
        print(
            f"{obj['kind'].lower()}.{c.GROUP}/{a.name} deleted (was {was}); its worker Jobs, pods, ConfigMaps "
            "and Leases are garbage-collected; outputs and logs stay on the datastore"
        )
        return 0

    return guard(run, args)
