"""Code and input delivery for ``pjob submit`` (client side); the pods
unpack what it shipped as ConfigMaps (``pjob.kube.unpack_cmd``, an init
container of every Job the operator creates), the operator never does.

What is shipped: every local path a job reads on this machine: the ``code``
folders of its steps (and components), component YAML files, and local input
files/folders (found by resolving the job here, ``pjob.spec.resolve``). They
are mirrored, keeping their layout relative to a common folder, under the
job's run folder on the datastore, ``runs/<ns>/<name>/shipped/<rel>``; the
CR's ``pjob.dev/base-dir`` annotation is the mirror of the YAML's folder,
*relative to the datastore root* (the operator joins it with the pods'
mount path), so the relative paths the user wrote keep working; absolute local
paths are rewritten relative to it (object-store uploads: to their URL).

How: a path whose tar.gz is under ``MAX_CONFIGMAP_BYTES`` travels as a
ConfigMap (``binaryData``; inputs only when no datastore is reachable from
here); the rest is copied to the datastore (a local folder this machine and
the pods share, or an fsspec URL). The CR annotation ``pjob.dev/shipped``
lists the ConfigMaps; the init container of each pod of the job mounts them
and unpacks them onto the datastore once (a marker per ConfigMap, under a
lock), confined to ``runs/<the CR's namespace>/``.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import os
import posixpath
import shutil
import tarfile
from typing import Any

from pjob.kube import constants as c
from pjob.kube import unpack_cmd
from pjob.spec import checks, errors, load, models, resolve

MAX_CONFIGMAP_BYTES = 900 * 1024  # binaryData of one ConfigMap (the API object limit is 1 MiB)
MAX_PACK_BYTES = 16 * 1024 * 1024  # raw size above which a path is not even packed to try a ConfigMap
SKIP_DIRS = frozenset({"__pycache__", ".git"})  # never shipped (rebuilt/irrelevant on the cluster)
ANNOTATION_SHIPPED = unpack_cmd.ANNOTATION_SHIPPED  # JSON list of {configMap, into, sha256}
BUNDLE_KEY = unpack_cmd.BUNDLE_KEY
ROLE_SHIPPED = "shipped"
_NOWHERE = "/\x00pjob-not-local"  # outputs root while resolving here: never a local path


@dataclasses.dataclass(frozen=True)
class Item:
    kind: str  # code | component | input
    source: str  # absolute local path
    rel: str = ""  # posix path under the shipped folder


@dataclasses.dataclass
class Upload:
    item: Item
    destination: str  # local path or URL on the datastore
    files: list[str]  # relative posix names
    size: int


@dataclasses.dataclass
class Shipment:
    shipped_dir: str  # runs/<ns>/<name>/shipped, relative to the datastore root
    base_dir: str  # the YAML's folder there, relative to the datastore root
    configmaps: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    uploads: list[Upload] = dataclasses.field(default_factory=list)
    annotation: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    items: list[Item] = dataclasses.field(default_factory=list)
    urls: dict[str, str] = dataclasses.field(default_factory=dict)  # source -> URL (object-store uploads)


def is_url(text: str | None) -> bool:
    return text is not None and bool(checks.URL.match(text))


def _userinfo(url: str) -> tuple[str, str]:
    """(user:password, the URL without it); a password may even hold '/'."""
    scheme, sep, rest = url.partition("://")
    head, at, tail = rest.partition("@")
    if sep and at and (":" in head or "/" not in head):
        return head, f"{scheme}://{tail}"
    return "", url


def redact(url: str) -> str:
    """A URL without user:password (never printed, never written into a CR)."""
    return _userinfo(url)[1]


# --- what a job reads from this machine (pure over the loaded job + file existence) ------------------


def local_items(loaded: load.LoadedJob) -> list[Item]:
    """Every local path ``loaded`` reads, outermost only (a folder inside
    another shipped folder travels with it), in a stable order."""
    where = resolve.Locations(outputs_root=_NOWHERE, locate=lambda p: p, job_name="job", default_datastore="default")
    found: list[Item] = []
    for name, step in resolve.resolve_pipeline(loaded, where).items():
        if step.code_dir and os.path.exists(step.code_dir):
            found.append(Item("code", os.path.abspath(step.code_dir)))
        for value in step.inputs.values():
            if (
                isinstance(value, resolve.DataValue)
                and os.path.isabs(value.location)
                and not value.location.startswith(_NOWHERE)
                and os.path.exists(value.location)
            ):
                found.append(Item("input", os.path.abspath(value.location)))
        comp = loaded.components.get(name)
        if comp:
            found.append(Item("component", os.path.abspath(comp.file)))
        conda = _conda_file(loaded, name)
        if conda and os.path.isfile(conda):
            found.append(Item("conda", conda))
    out: list[Item] = []
    for item in sorted(found, key=lambda i: (len(i.source), i.source)):
        if not any(
            item.source == o.source or item.source.startswith(o.source.rstrip(os.sep) + os.sep)
            for o in out
            if os.path.isdir(o.source)
        ) and item.source not in {o.source for o in out}:
            out.append(item)
    return out


def _conda_file(loaded: load.LoadedJob, name: str) -> str | None:
    """The absolute path of a step's environment conda file (pods may install
    its pip list at start), or None."""
    assert loaded.job is not None  # a job that loaded
    step = loaded.job.jobs[name]
    comp = loaded.components.get(name)
    env = (
        step.task.environment
        if isinstance(step, models.ParallelStep)
        else (step.environment or (comp.model.environment if comp else None))
    )
    base = os.path.dirname(comp.file) if (comp and not getattr(step, "environment", None)) else loaded.base_dir
    conda = getattr(env, "conda_file", None)
    return os.path.normpath(os.path.join(base, conda)) if isinstance(conda, str) else None


def _walk(source: str) -> list[str]:
    if os.path.isfile(source):
        return [os.path.basename(source)]
    names = []
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        rel = os.path.relpath(folder, source)
        names += [posixpath.normpath(posixpath.join(rel.replace(os.sep, "/"), f)) for f in sorted(files)]
    return names


def _abs_file(item: Item, name: str) -> str:
    return item.source if os.path.isfile(item.source) else os.path.join(item.source, *name.split("/"))


def pack(item: Item) -> bytes:
    """A reproducible tar.gz of ``item`` with member names under ``item.rel``."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in _walk(item.source):
            path = _abs_file(item, name)
            arc = item.rel if os.path.isfile(item.source) else posixpath.normpath(posixpath.join(item.rel, name))
            info = tar.gettarinfo(path, arcname=arc)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    return raw.getvalue()


def _size(item: Item) -> int:
    return sum(os.path.getsize(_abs_file(item, n)) for n in _walk(item.source))


# --- the plan ------------------------------------------------------------------------------------


def plan(loaded: load.LoadedJob, *, namespace: str, name: str, datastore: str | None) -> Shipment:
    """Decide how each local path travels (ConfigMap or datastore) and
    build the ConfigMaps. Reads the files; writes nothing."""
    shipped_dir = f"runs/{namespace}/{name}/shipped"
    items = local_items(loaded)
    yaml_dir = os.path.abspath(loaded.base_dir)
    common = os.path.commonpath(
        [yaml_dir] + [i.source if os.path.isdir(i.source) else os.path.dirname(i.source) for i in items]
    )

    def rel(p: str) -> str:
        return os.path.relpath(p, common).replace(os.sep, "/")

    items = [dataclasses.replace(i, rel=rel(i.source)) for i in items]
    base = posixpath.normpath(posixpath.join(shipped_dir, rel(yaml_dir)))
    out = Shipment(shipped_dir=shipped_dir, base_dir=base, items=items)
    problems = []
    for index, item in enumerate(items):
        size = _size(item)
        to_datastore = datastore is not None and item.kind == "input"
        blob = pack(item) if not to_datastore and size <= MAX_PACK_BYTES else None
        if blob is not None and len(blob) <= MAX_CONFIGMAP_BYTES:
            digest = hashlib.sha256(blob).hexdigest()
            cm_name = c.dns_name(f"{name}-ship-{index}-{digest[:8]}", 63)
            out.configmaps.append(shipped_configmap(cm_name, namespace, name, item, blob, loaded.wrapped == "parallel"))
            out.annotation.append({"configMap": cm_name, "into": shipped_dir, "sha256": digest})
        elif datastore is not None:
            dest = (
                posixpath.join(datastore.rstrip("/"), shipped_dir, item.rel)
                if is_url(datastore)
                else os.path.join(datastore, *shipped_dir.split("/"), *item.rel.split("/"))
            )
            out.uploads.append(Upload(item, dest, _walk(item.source), size))
            if is_url(datastore) and item.kind != "input":
                problems.append(
                    f"{item.kind} {item.source} ({size // 1024} KiB packed too big for a ConfigMap): the pods "
                    "cannot run code from an object store; bake it into the worker image or use a shared "
                    "folder datastore (--datastore-root PATH)"
                )
            elif is_url(datastore):
                out.urls[item.source] = redact(dest)  # pods authenticate from their env, never the CR
        else:
            problems.append(
                f"{item.kind} {item.source} is {size // 1024} KiB, too big for a ConfigMap "
                f"({MAX_CONFIGMAP_BYTES // 1024} KiB packed); pass --datastore-root PATH (a folder the "
                "pods see as their datastore) or an object-store URL to ship it through the datastore"
            )
    if problems:
        raise errors.UserError([errors.Problem(loaded.file, None, "", p) for p in problems])
    return out


def shipped_configmap(
    cm_name: str, namespace: str, job: str, item: Item, blob: bytes, parallel: bool
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": cm_name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "pjob-submit",
                (c.LABEL_JOB if parallel else c.LABEL_PIPELINE): job,
                c.LABEL_ROLE: ROLE_SHIPPED,
            },
            "annotations": {f"{c.GROUP}/shipped-path": item.rel, f"{c.GROUP}/shipped-kind": item.kind},
        },
        "immutable": True,
        "binaryData": {BUNDLE_KEY: base64.b64encode(blob).decode("ascii")},
    }


def rewrite_spec(spec: dict[str, Any], shipment: Shipment, yaml_dir: str) -> dict[str, Any]:
    """Absolute local paths -> relative to the base-dir mirror; paths uploaded
    to an object store -> their URL. Relative paths resolve against base-dir
    already and stay as written."""
    yaml_dir = os.path.abspath(yaml_dir)
    sources = [i.source for i in shipment.items]

    def new(value: str) -> str:
        if not isinstance(value, str) or not checks.is_local_path(value) or value.startswith("file:"):
            return value
        full = os.path.normpath(os.path.join(yaml_dir, value))
        owner = next((s for s in sources if full == s or full.startswith(s.rstrip(os.sep) + os.sep)), None)
        if owner is None:
            return value
        if owner in shipment.urls:
            tail = os.path.relpath(full, owner).replace(os.sep, "/")
            return shipment.urls[owner] if tail == "." else posixpath.join(shipment.urls[owner], tail)
        return os.path.relpath(full, yaml_dir).replace(os.sep, "/") if os.path.isabs(value) else value

    def walk(node: Any, key: str | None = None) -> Any:  # a JSON tree
        if isinstance(node, dict):
            return {
                k: (new(v) if (k in ("path", "code") or key == "inputs") and isinstance(v, str) else walk(v, k))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    rewritten: dict[str, Any] = walk(spec)
    return rewritten


# --- writing to the datastore -----------------------------------------------------------------------


class UploadError(Exception):
    """Writing to the datastore failed; the message holds no credentials."""


def upload(shipment: Shipment) -> None:
    """Copy each upload to its destination (a shared folder or an fsspec URL)."""
    for up in shipment.uploads:
        try:
            _upload_one(up)
        except Exception as exc:
            secret = _userinfo(up.destination)[0]
            detail = (str(exc).strip().splitlines() or [""])[0]
            for part in [secret, *secret.split(":")] if secret else []:
                detail = detail.replace(part, "***") if len(part) >= 3 else detail
            raise UploadError(
                f"cannot write {up.item.source} to {redact(up.destination)}: {type(exc).__name__}: {detail[:300]}"
            ) from None


def _upload_one(up: Upload) -> None:
    if is_url(up.destination):
        import fsspec

        fs, root = fsspec.core.url_to_fs(up.destination)
        for name in up.files:
            target = root if os.path.isfile(up.item.source) else posixpath.join(root, name)
            fs.put_file(_abs_file(up.item, name), target)
    else:
        if os.path.isdir(up.destination):
            shutil.rmtree(up.destination)
        os.makedirs(os.path.dirname(up.destination), exist_ok=True)
        if os.path.isfile(up.item.source):
            shutil.copy2(up.item.source, up.destination)
        else:
            shutil.copytree(up.item.source, up.destination, ignore=shutil.ignore_patterns(*SKIP_DIRS))
