"""Local paths in SDK objects. As in Azure's SDK, a relative path given to a
constructor (``RunFunction(code="./src")``, ``Input(path="./data")``,
``load_component(source=...)``) is relative to the current directory at the
time of the call; it is stored absolute, and written relative to the folder of
the YAML when a job is dumped. URLs, ``azureml:`` references and ``${{...}}``
bindings are left as they are."""

from __future__ import annotations

import os

from pjob.spec import checks


def is_local(path: object) -> bool:
    return isinstance(path, str) and bool(path) and checks.is_local_path(path)


def absolute(path, base_dir: str | None = None):
    """``path`` made absolute against ``base_dir`` (default: the current directory)."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not is_local(path):
        return path
    return os.path.normpath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(path)))


def render(path, base_dir: str | None):
    """An absolute local path written relative to ``base_dir`` ("./x", "../x");
    unchanged when ``base_dir`` is None or the path is not local."""
    if base_dir is None or not is_local(path) or not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, base_dir)
    if rel == ".":
        return "./"
    return rel if rel.startswith("..") else "./" + rel
