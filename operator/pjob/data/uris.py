"""Turn what a user wrote as an input path into a location pjob can read.

Called by ``pjob.data.plan`` (and through it by the local driver, the engine,
the operator and ``pjob inspect``). Accepted forms:

- a local path (relative paths are made absolute against the current folder);
- ``file:///abs/path`` (and ``file:relative``);
- ``azureml://datastores/<ds>/paths/<p>`` (also the long
  ``azureml://subscriptions/.../datastores/<ds>/paths/<p>`` form): joined onto
  the datastore's location taken from the ``datastores`` mapping the caller
  passes (name -> local folder or URL). ``default`` always exists: when the
  caller does not map it, it is ``./pjob-runs/datastores/default``;
- any other fsspec URL (``s3://``, ``gs://``, ``memory://`` ...), kept as is.

A *location* is therefore either an absolute local path or a URL with a
scheme other than ``file``; ``is_local`` tells which.
"""

from __future__ import annotations

import os
import re

from pjob.spec import errors

DEFAULT_DATASTORE = "default"
# where `default` lives when the caller does not say (the Makefile's --runs-dir)
FALLBACK_DEFAULT_DATASTORE_DIR = os.path.join("pjob-runs", "datastores", DEFAULT_DATASTORE)

_DATASTORE_URI = re.compile(r"^azureml://(?:.*/)?datastores/(?P<ds>[^/]+)/paths/?(?P<path>.*)$")
_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]+)://")


def resolve_uri(uri: str, datastores: dict[str, str] | None = None) -> str:
    """Return the location (absolute local path or fsspec URL) that ``uri`` names."""
    if not isinstance(uri, str) or not uri.strip():
        raise errors.UserError(
            "the input path is empty; give a local path, file://, azureml://datastores/<ds>/paths/<p> or a URL",
            field="path",
        )
    uri = uri.strip()
    if uri.startswith("azureml://"):
        return _resolve_datastore_uri(uri, datastores or {})
    if uri.startswith("azureml:"):
        raise errors.UserError(
            f"'{uri}' is a registered data asset; pjob cannot look assets up: give the asset's path "
            "(a local folder, azureml://datastores/<ds>/paths/<p>, or a URL)",
            field="path",
        )
    if uri.startswith("file://"):
        return os.path.abspath(os.path.expanduser(uri[len("file://") :] or "/"))
    if uri.startswith("file:"):
        return os.path.abspath(os.path.expanduser(uri[len("file:") :]))
    if _SCHEME.match(uri):
        return uri
    return os.path.abspath(os.path.expanduser(uri))


def _resolve_datastore_uri(uri: str, datastores: dict[str, str]) -> str:
    match = _DATASTORE_URI.match(uri)
    if not match:
        raise errors.UserError(
            f"'{uri}' is not a datastore URI; write azureml://datastores/<datastore>/paths/<path>", field="path"
        )
    name, rel = match.group("ds"), match.group("path")
    if name in datastores:
        base = datastores[name]
    elif name == DEFAULT_DATASTORE:
        base = FALLBACK_DEFAULT_DATASTORE_DIR
    else:
        known = ", ".join(sorted(set(datastores) | {DEFAULT_DATASTORE}))
        raise errors.UserError(
            f"datastore '{name}' in '{uri}' is not configured (known: {known}); map it to a folder or URL", field="path"
        )
    base = resolve_uri(base) if not base.startswith("azureml://") else base
    return join(base, rel)


def parse_datastore_flags(pairs: list[str]) -> dict[str, str]:
    """``--datastore NAME=LOCATION`` flags (CLI) -> {name: location}."""
    out = {}
    for pair in pairs:
        name, sep, location = pair.partition("=")
        if not sep or not name or not location:
            raise errors.UserError(
                f"got {pair!r}; write NAME=PATH (a folder or URL), e.g. --datastore workspaceblobstore=/data/blob",
                field="--datastore",
            )
        out[name] = location
    return out


def is_local(location: str) -> bool:
    """True for a local path, False for a URL read through fsspec."""
    return not _SCHEME.match(location)


def join(base: str, rel: str) -> str:
    """Join a relative path (``/``-separated) onto a location."""
    rel = rel.strip("/")
    if not rel:
        return base
    if is_local(base):
        return os.path.normpath(os.path.join(base, *rel.split("/")))
    return base.rstrip("/") + "/" + rel


def filesystem(location: str):
    """The fsspec filesystem and the path inside it for a URL location."""
    import fsspec  # lazily: local-path users never pay for it

    fs, path = fsspec.core.url_to_fs(location)
    return fs, path
