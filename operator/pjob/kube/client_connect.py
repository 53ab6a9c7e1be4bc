"""The cluster connection of ``pjob submit / status / logs / cancel`` (``pjob.kube.client_cmd``),
the job page (``pjob ui``) and ``pjob.sdk``: the kubeconfig like kubectl (``--kubeconfig``, else
``$KUBECONFIG``, else ``~/.kube/config``; ``--context``; the context's namespace is the default ``-n``),
finding a job, and the one-line errors with exit 1 for cluster-side failures."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pjob.kube import constants as c
from pjob.kube import ship
from pjob.spec import errors

if TYPE_CHECKING:
    from kubernetes.client import Configuration

    from pjob.kube.kubeio import KubeApi

KINDS = (c.PARALLEL_KIND, c.PIPELINE_KIND)


class ClusterError(Exception):
    """A cluster-side failure: printed as one line, exit 1."""


def kubeconfig(path: str | None, context: str | None) -> tuple[Configuration, str]:
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
    namespace: str = (chosen.get("context") or {}).get("namespace") or "default"
    return cfg, namespace


def default_namespace(args: argparse.Namespace) -> str:
    given: str | None = getattr(args, "namespace", None)
    if given:
        return given
    try:
        return kubeconfig(getattr(args, "kubeconfig", None), getattr(args, "context", None))[1]
    except errors.UserError:
        return "default"


def connect(args: argparse.Namespace) -> tuple[KubeApi, str, str]:
    """(KubeApi, namespace, server URL)."""
    from kubernetes import client as kclient

    from pjob.kube import kubeio

    cfg, namespace = kubeconfig(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    api_client = kclient.ApiClient(cfg)
    api_client.user_agent = "pjob-client"
    return kubeio.KubeApi(api_client), getattr(args, "namespace", None) or namespace, cfg.host


def guard(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; cluster-side failures become one line and exit 1."""
    import urllib3

    from pjob.kube import kubeio

    try:
        return fn(args)
    except (ClusterError, ship.UploadError, kubeio.ApiError, urllib3.exceptions.HTTPError, ConnectionError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


def one_line(exc: Exception) -> str:
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


def crds_installed(api: KubeApi) -> bool:
    return api._call("GET", f"/apis/{c.API_VERSION}", ok_missing=True) is not None


def find_job(api: KubeApi, namespace: str, name: str) -> dict[str, Any]:
    for kind in KINDS:
        obj = api.get(kind, namespace, name)
        if obj is not None:
            return obj
    if not crds_installed(api):
        raise ClusterError(
            f"the pjob CRDs ({c.API_VERSION}) are not installed in this cluster; "
            "install the chart (helm install pjob helm/pjob) or kubectl apply -f crds/"
        )
    raise ClusterError(f"no ParallelJob or PipelineJob named {name!r} in namespace {namespace!r}")
