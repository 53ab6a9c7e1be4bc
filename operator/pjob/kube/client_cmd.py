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
user documentation: docs/client.md.

Exit codes: 0 done, 1 cluster-side failure (unreachable, CRDs missing,
NotFound, Forbidden, AlreadyExists), 2 bad input (``UserError``). One-line
errors; tracebacks only with ``--debug``. No credential is ever printed: the
only values echoed are names, paths and URLs without user info.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time

from pjob.kube import builders, client_view, ship
from pjob.kube import constants as c
from pjob.spec import checks, errors, load

KINDS = (c.PARALLEL_KIND, c.PIPELINE_KIND)
FOLLOW_SECONDS = float(os.environ.get("PJOB_FOLLOW_SECONDS") or 3)


class ClusterError(Exception):
    """A cluster-side failure: printed as one line, exit 1."""


# --- arguments ---------------------------------------------------------------------------------------


def _common(p, name: bool = True) -> None:
    if name:
        p.add_argument("name", metavar="NAME", help="the ParallelJob or PipelineJob")
    p.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")


def _datastore_arg(p, what: str) -> None:
    p.add_argument(
        "--datastore-root",
        metavar="PATH_OR_URL",
        default=os.environ.get("PJOB_DATASTORE_ROOT") or None,
        help=f"where the cluster's datastore is reachable from here, {what} (default: $PJOB_DATASTORE_ROOT)",
    )


def add_submit_arguments(p) -> None:
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


def add_status_arguments(p) -> None:
    _common(p)


def add_logs_arguments(p) -> None:
    _common(p)
    p.add_argument("--step", help="a pipeline step (default: every step's job_result.txt)")
    p.add_argument("--mini-batch", type=int, metavar="N", help="one mini-batch's worker log records")
    p.add_argument("--follow", action="store_true", help="wait until the job is terminal, showing progress")
    _datastore_arg(p, "for reading logs")


def add_cancel_arguments(p) -> None:
    _common(p)


# --- the cluster connection ----------------------------------------------------------------------------


def _kubeconfig(path: str | None, context: str | None):
    """(kubernetes Configuration, default namespace) like kubectl."""
    from kubernetes import client as kclient
    from kubernetes import config as kconfig

    try:
        contexts, current = kconfig.list_kube_config_contexts(config_file=path)
        chosen = next((x for x in contexts if x["name"] == context), None) if context else current
        if chosen is None:
            raise kconfig.ConfigException(f"context {context!r} not found")
        cfg = kclient.Configuration()
        kconfig.load_kube_config(config_file=path, context=context, client_configuration=cfg)
    except (kconfig.ConfigException, OSError, ValueError, TypeError) as exc:
        where = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise errors.UserError(
            [
                errors.Problem(
                    where, None, "", f"cannot use this kubeconfig ({exc}); pass --kubeconfig FILE or set KUBECONFIG"
                )
            ]
        ) from None
    cfg.retries = 1  # fail fast when nothing answers
    return cfg, (chosen.get("context") or {}).get("namespace") or "default"


def default_namespace(args) -> str:
    if getattr(args, "namespace", None):
        return args.namespace
    try:
        return _kubeconfig(getattr(args, "kubeconfig", None), getattr(args, "context", None))[1]
    except errors.UserError:
        return "default"


def connect(args):
    """(KubeApi, namespace, server URL)."""
    from kubernetes import client as kclient

    from pjob.kube import kubeio

    cfg, namespace = _kubeconfig(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    api_client = kclient.ApiClient(cfg)
    api_client.user_agent = "pjob-client"
    return kubeio.KubeApi(api_client), getattr(args, "namespace", None) or namespace, cfg.host


def _guard(fn, args) -> int:
    """Run a command; cluster-side failures become one line and exit 1."""
    import urllib3

    from pjob.kube import kubeio

    try:
        return fn(args)
    except (ClusterError, ship.UploadError, kubeio.ApiError, urllib3.exceptions.HTTPError, ConnectionError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: Exception) -> str:
    from pjob.kube import kubeio

    if isinstance(exc, kubeio.ApiError):
        if exc.status == 401:
            return "the cluster rejected the credentials of this kubeconfig (401 Unauthorized)"
        if exc.status == 403:
            return f"forbidden: {str(exc).split(': ', 2)[-1]}"
        return str(exc)
    if isinstance(exc, (ClusterError, ship.UploadError)):
        return str(exc)
    reason = getattr(exc, "reason", None) or exc
    return f"cannot reach the cluster: {reason}".splitlines()[0]


def _crds_installed(api) -> bool:
    return api._call("GET", f"/apis/{c.API_VERSION}", ok_missing=True) is not None


def find_job(api, namespace: str, name: str) -> dict:
    for kind in KINDS:
        obj = api.get(kind, namespace, name)
        if obj is not None:
            return obj
    if not _crds_installed(api):
        raise ClusterError(
            f"the pjob CRDs ({c.API_VERSION}) are not installed in this cluster; "
            "install the chart (helm install pjob helm/pjob) or kubectl apply -f crds/"
        )
    raise ClusterError(f"no ParallelJob or PipelineJob named {name!r} in namespace {namespace!r}")


# --- submit ------------------------------------------------------------------------------------------------


def generated_name(loaded: load.LoadedJob) -> str:
    stem = builders.default_cr_name(loaded)[:33].rstrip("-")
    return f"{stem}-{''.join(secrets.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(5))}"


def build_submission(loaded: load.LoadedJob, *, namespace: str, name: str, datastore: str | None):
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


def dry_run_stream(cr: dict, shipment) -> str:
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
    out=None,
) -> dict:
    """Ship and create ``loaded`` (already checked); returns the CR as created
    (or as it would be, with ``dry_run``). Raises UserError / ClusterError."""
    out = out or sys.stdout
    name = name or generated_name(loaded)
    datastore = datastore_root if datastore_root is not None else os.environ.get("PJOB_DATASTORE_ROOT") or None
    cr, shipment = build_submission(loaded, namespace=namespace, name=name, datastore=datastore)
    if dry_run:
        out.write(dry_run_stream(cr, shipment))
        return cr
    args = type("Args", (), {"kubeconfig": kubeconfig, "context": context, "namespace": namespace})()
    api, _, _ = connect(args)
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

        if isinstance(exc, kubeio.ApiError) and exc.status == 404 and not _crds_installed(api):
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


def submit_main(args) -> int:
    loaded = checks.load_and_check(args.file)
    namespace = args.namespace or default_namespace(args)

    def run(a) -> int:
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

    return _guard(run, args)


# --- status ----------------------------------------------------------------------------------------------


def recent_events(api, obj: dict, limit: int = 10) -> list[dict]:
    meta = obj["metadata"]
    items = api._call(
        "GET",
        f"/api/v1/namespaces/{meta['namespace']}/events",
        query=[("fieldSelector", f"involvedObject.name={meta['name']}")],
    )["items"]
    mine = [e for e in items if (e.get("involvedObject") or {}).get("kind") in (obj["kind"], None)]
    return sorted(mine, key=client_view.event_time)[-limit:]


def status_main(args) -> int:
    def run(a) -> int:
        api, namespace, _ = connect(a)
        obj = find_job(api, namespace, a.name)
        children = {}
        for step, entry in ((obj.get("status") or {}).get("steps") or {}).items():
            if entry.get("kind") == "parallel" and entry.get("child"):
                children[step] = api.get(c.PARALLEL_KIND, namespace, entry["child"]) or {}
        sys.stdout.write(client_view.format_status(obj, children, recent_events(api, obj)))
        return 0

    return _guard(run, args)


# --- logs -----------------------------------------------------------------------------------------------------


def _follow(api, obj: dict) -> dict:
    meta, last = obj["metadata"], None
    while not client_view.terminal(obj):
        line = f"{client_view.state_of(obj)}: {client_view.progress_text(obj.get('status') or {})}"
        if line != last:
            print(line, file=sys.stderr, flush=True)
            last = line
        time.sleep(FOLLOW_SECONDS)
        obj = find_job(api, meta["namespace"], meta["name"])
    return obj


def logs_main(args) -> int:
    def run(a) -> int:
        api, namespace, _ = connect(a)
        obj = find_job(api, namespace, a.name)
        if a.follow:
            obj = _follow(api, obj)
        root = a.datastore_root if a.datastore_root and not ship.is_url(a.datastore_root) else None
        dirs = client_view.logs_dirs(obj, a.step)
        if a.mini_batch is not None:
            step, logs = dirs[0] if len(dirs) == 1 else (None, None)
            if step is None:
                raise errors.UserError([errors.Problem("--mini-batch", None, "", "name the parallel step: --step S")])
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

    return _guard(run, args)


# --- cancel --------------------------------------------------------------------------------------------------


def cancel_main(args) -> int:
    def run(a) -> int:
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

    return _guard(run, args)
