"""Where ``MLClient.from_config()`` runs jobs: a small pjob config file, found
the way Azure finds a workspace's ``config.json`` (in the given folder or the
current one, then in each parent folder, also inside a ``.pjob`` folder):

    pjob-config.json   or   .pjob/config.json
    {"namespace": "ml", "context": "my-cluster", "kubeconfig": "~/.kube/config"}   -> submit to that cluster
    {"runs_dir": "pjob-runs"}                                                        -> run on this machine

With no such file, jobs run on this machine (``./pjob-runs``). Azure's own
``config.json`` (subscription, resource group, workspace) is not read: pjob
has no workspace. ``find`` and ``parse`` are pure over what they are given;
``target_for`` reads the file. Called by ``pjob.sdk.client.MLClient``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

from pjob.spec import errors

CONFIG_FILES = ("pjob-config.json", os.path.join(".pjob", "config.json"))
CLUSTER_KEYS = ("namespace", "context", "kubeconfig")
KEYS = (*CLUSTER_KEYS, "runs_dir")


@dataclasses.dataclass(frozen=True)
class Target:
    """Where jobs go: ``local`` (this machine, into ``runs_dir``) or a cluster."""

    local: bool = True
    runs_dir: str = "pjob-runs"
    namespace: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    source: str | None = None  # the config file it came from, None when there was none

    def describe(self) -> str:
        if self.local:
            return f"this machine (runs in {self.runs_dir})"
        where = f"namespace {self.namespace or '(the context default)'}"
        return f"the Kubernetes cluster of context {self.context or '(current)'}, {where}"


def find(start: str, is_file: Callable[[str], bool] = os.path.isfile) -> str | None:
    """The nearest config file at ``start`` (a folder, or a file itself) or above it."""
    if is_file(start):
        return start
    folder = os.path.abspath(start)
    while True:
        for name in CONFIG_FILES:
            candidate = os.path.join(folder, name)
            if is_file(candidate):
                return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def parse(text: str, path: str) -> Target:
    """A Target from a config file's text; bad content is a UserError naming the file and key."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise errors.UserError(f'not valid JSON ({exc}); write e.g. {{"namespace": "ml"}}', file=path) from None
    if not isinstance(data, dict):
        raise errors.UserError('must be a JSON object such as {"namespace": "ml"}', file=path)
    for key, value in data.items():
        if key not in KEYS:
            raise errors.UserError(f"unknown key {key!r}; a pjob config has {', '.join(KEYS)}", file=path, field=key)
        if not isinstance(value, str) or not value:
            raise errors.UserError("must be a non-empty string", file=path, field=key)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.basename(folder) == ".pjob":
        folder = os.path.dirname(folder)
    kubeconfig = data.get("kubeconfig")
    if kubeconfig:
        kubeconfig = os.path.join(folder, os.path.expanduser(kubeconfig))
    runs_dir = os.path.join(folder, data.get("runs_dir", "pjob-runs"))
    return Target(
        local=not any(k in data for k in CLUSTER_KEYS),
        runs_dir=runs_dir,
        namespace=data.get("namespace"),
        context=data.get("context"),
        kubeconfig=kubeconfig,
        source=path,
    )


def target_for(path: str | os.PathLike | None = None, file_name: str | None = None) -> Target:
    """The Target of the config found from ``path`` (default: the current folder),
    or this machine when there is none. ``file_name`` names the file to look for."""
    start = os.fspath(path) if path is not None else os.getcwd()
    if file_name:
        start = os.path.join(start, file_name) if os.path.isdir(start) else start
        if not os.path.isfile(start):
            raise errors.UserError(
                f"no pjob config file {file_name!r} in {os.fspath(path or os.getcwd())}", field="file_name"
            )
    found = find(start)
    if found is None:
        return Target()
    with open(found, encoding="utf-8") as fh:
        return parse(fh.read(), found)
