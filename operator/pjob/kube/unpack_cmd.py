"""``pjob unpack``: the init container of every data-plane pod (worker Job,
finaliser Job, command-step Job) that unpacks the code and inputs ``pjob
submit`` shipped as ConfigMaps onto the datastore, before the main container
starts. The operator itself never touches the datastore.

The ConfigMaps listed in the CR's ``pjob.dev/shipped`` annotation are mounted
read-only into the init container (one volume each, ``init_container``); the
command unpacks each bundle into ``<datastore root>/<into>`` once: under an
exclusive lock (``flock`` on ``<into>/../.pjob-shipped/.lock``), so pods that
start together do not rewrite files another pod is already running, and a
marker per ConfigMap, written after the bundle is extracted, so a pod that is
killed mid-way leaves no marker and the next pod extracts again. A bundle
whose sha256 differs, or one pointing outside ``runs/<namespace>/``, fails
the pod with exit 3 (the Jobs fail at once on it).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import sys
import tarfile
from collections.abc import Iterator
from typing import Any

from pjob.kube import constants as c

CONTAINER = "unpack"
MOUNT_ROOT = "/var/run/pjob/shipped"  # where the init container sees the shipped ConfigMaps
BUNDLE_KEY = "bundle.tar.gz"  # the key of a shipped ConfigMap (pjob.kube.ship.BUNDLE_KEY)
ANNOTATION_SHIPPED = f"{c.GROUP}/shipped"  # pjob.kube.ship.ANNOTATION_SHIPPED
EXIT_BAD_BUNDLE = 3


def shipped_entries(body: dict[str, Any]) -> list[dict[str, str]] | None:
    """The CR's ``pjob.dev/shipped`` list as ``{configMap, into, sha256}``; [] when
    nothing was shipped, None when the annotation is malformed."""
    raw = ((body.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_SHIPPED)
    if not raw:
        return []
    try:
        entries = json.loads(raw)
        return [
            {"configMap": str(e["configMap"]), "into": str(e["into"]), "sha256": str(e.get("sha256") or "")}
            for e in entries
        ]
    except (ValueError, TypeError, KeyError):
        return None


def entry_problems(entries: list[dict[str, str]], namespace: str) -> list[str]:
    """Entries that would unpack outside ``runs/<namespace>/`` on the datastore."""
    out = []
    for e in entries:
        into = os.path.normpath(e["into"])
        if os.path.isabs(into) or not (into + "/").startswith(f"runs/{namespace}/"):
            out.append(
                f"shipped ConfigMap {e['configMap']}: {e['into']!r} is outside runs/{namespace}/ on the datastore"
            )
    return out


def init_container(
    entries: list[dict[str, str]], main: dict[str, Any], namespace: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The init container (same image, env, mounts and security context as
    ``main``) and the ConfigMap volumes it mounts."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for index, e in enumerate(entries):
        name = f"pjob-shipped-{index}"
        volumes.append(
            {"name": name, "configMap": {"name": e["configMap"], "items": [{"key": BUNDLE_KEY, "path": BUNDLE_KEY}]}}
        )
        mounts.append({"name": name, "mountPath": f"{MOUNT_ROOT}/{index}", "readOnly": True})
    container: dict[str, Any] = {
        key: json.loads(json.dumps(main[key]))
        for key in ("image", "imagePullPolicy", "env", "envFrom", "resources", "securityContext", "workingDir")
        if key in main
    }
    container["name"] = CONTAINER
    container["args"] = ["unpack", "--namespace", namespace, "--shipped", json.dumps(entries, sort_keys=True)]
    container["volumeMounts"] = json.loads(json.dumps(main.get("volumeMounts") or [])) + mounts
    return container, volumes


def add_to_pod(pod: dict[str, Any], entries: list[dict[str, str]], namespace: str) -> None:
    """Give ``pod`` (a pod spec with its main container first) the unpacking init container."""
    if not entries:
        return
    container, volumes = init_container(entries, pod["containers"][0], namespace)
    pod["initContainers"] = [container]
    pod["volumes"] = list(pod.get("volumes") or []) + volumes


def failure_rules(entries: list[dict[str, str]] | None) -> list[dict[str, Any]]:
    """podFailurePolicy rules: a bundle that cannot be unpacked fails the Job at once (retrying changes nothing)."""
    if not entries:
        return []
    codes = {"containerName": CONTAINER, "operator": "In", "values": [EXIT_BAD_BUNDLE]}
    return [{"action": "FailJob", "onExitCodes": codes}]


# --- the command -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shipped", required=True, metavar="JSON", help="the CR's pjob.dev/shipped list")
    parser.add_argument("--from", dest="source", default=MOUNT_ROOT, help="folder with one sub-folder per bundle")
    parser.add_argument("--root", help="the datastore root (default: $PJOB_DATASTORE_ROOT)")
    parser.add_argument("--namespace", required=True, help="the job's namespace (bundles unpack under runs/NS/ only)")


@contextlib.contextmanager
def _locked(folder: str) -> Iterator[None]:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".lock"), "a", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def unpack(entries: list[dict[str, str]], source: str, root: str) -> list[str]:
    """Unpack each bundle (``<source>/<index>/bundle.tar.gz``) once; returns problems."""
    problems = []
    for index, e in enumerate(entries):
        target = os.path.join(root, *os.path.normpath(e["into"]).split("/"))
        markers = os.path.join(os.path.dirname(target), ".pjob-shipped")
        marker = os.path.join(markers, e["configMap"])
        with _locked(markers):
            if os.path.exists(marker):
                continue
            try:
                with open(os.path.join(source, str(index), BUNDLE_KEY), "rb") as fh:
                    blob = fh.read()
            except OSError as exc:
                problems.append(f"ConfigMap {e['configMap']}: cannot read its bundle ({exc.strerror or exc})")
                continue
            if e["sha256"] and hashlib.sha256(blob).hexdigest() != e["sha256"]:
                problems.append(
                    f"ConfigMap {e['configMap']} does not hold the bundle `pjob submit` shipped (sha256 differs)"
                )
                continue
            os.makedirs(target, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
                tar.extractall(target, filter="data")
            with open(marker + ".tmp", "w", encoding="utf-8") as fh:
                fh.write(e["sha256"] + "\n")
            os.replace(marker + ".tmp", marker)
    return problems


def main(args: argparse.Namespace) -> int:
    entries = json.loads(args.shipped)
    root = args.root or os.environ.get("PJOB_DATASTORE_ROOT") or ""
    if not root:
        problems = ["no datastore root: give --root or set PJOB_DATASTORE_ROOT"]
    else:
        problems = entry_problems(entries, args.namespace) or unpack(entries, args.source, root)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_BAD_BUNDLE if problems else 0
