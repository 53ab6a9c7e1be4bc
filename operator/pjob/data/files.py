"""File inputs: list the files of a folder (local or fsspec URL), split the list
into mini-batches by count, and materialise a files mini-batch as local paths.

Called by ``pjob.data.plan`` / ``pjob.data.read_mini_batch`` (uri_folder,
uri_file, MLTable file lists, mltable folders without an MLTable file).

Order is deterministic: lexicographic by the path relative to the listed root,
``/``-separated. Hidden files and folders (name starting with ``.``) are
skipped at every depth. Nothing here imports pandas or pyarrow.
"""

from __future__ import annotations

import hashlib
import os
import shutil

from pjob.data import minibatch, uris
from pjob.spec import errors


def list_files(location: str) -> list[str]:
    """Every non-hidden file under ``location`` (or ``[location]`` for a file),
    as locations, in lexicographic relative-path order."""
    if uris.is_local(location):
        if os.path.isfile(location):
            return [location]
        if not os.path.isdir(location):
            raise errors.UserError(f"input path '{location}' does not exist; check the path or datastore", field="path")
        prefix = location if location.endswith(os.sep) else location + os.sep
        rels = sorted(_walk_local(location))
        if os.sep != "/":
            rels = [rel.replace("/", os.sep) for rel in rels]
        return [prefix + rel for rel in rels]  # os.path.join per file costs more than the listing
    return _list_remote(location)


def _walk_local(root: str) -> list[str]:
    """Relative ``/``-separated paths of non-hidden files under root (scandir, iterative)."""
    found: list[str] = []
    seen_dirs = {os.path.realpath(root)}
    stack: list[tuple[str, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = prefix + entry.name
                if entry.is_dir():
                    if entry.is_symlink():  # guard against symlink loops only where they can happen
                        real = os.path.realpath(entry.path)
                        if real in seen_dirs:
                            continue
                        seen_dirs.add(real)
                    stack.append((entry.path, rel + "/"))
                elif entry.is_file():
                    found.append(rel)
    return found


def _list_remote(location: str) -> list[str]:
    fs, root = uris.filesystem(location)
    if fs.isfile(root):
        return [location]
    if not fs.isdir(root):
        raise errors.UserError(f"input path '{location}' does not exist; check the URL or datastore", field="path")
    root = root.rstrip("/")
    rels = []
    for path in fs.find(root, detail=False):
        rel = path[len(root):].lstrip("/")
        if not rel or any(part.startswith(".") for part in rel.split("/")):
            continue
        rels.append(rel)
    base = location.rstrip("/")  # keep the user's spelling of the URL
    return [base + "/" + rel for rel in sorted(rels)]


def digest(paths: list[str]) -> str:
    """A short fingerprint of a listing (names and order)."""
    return hashlib.sha256("\n".join(paths).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def modified_after(paths: list[str], when: float) -> list[str]:
    """The local files among ``paths`` modified after ``when`` (epoch
    seconds). Object-store files are not checked (their listing is)."""
    newer = []
    for path in paths:
        if uris.is_local(path):
            try:
                if os.stat(path).st_mtime > when:
                    newer.append(path)
            except OSError:
                newer.append(path)
    return newer


def is_file(location: str) -> bool:
    """True when ``location`` is one file (not a folder)."""
    if uris.is_local(location):
        return os.path.isfile(location)
    fs, inner = uris.filesystem(location)
    return fs.isfile(inner)


def plan_files(paths: list[str], files_per_batch: int) -> list[minibatch.MiniBatch]:
    """Consecutive runs of ``files_per_batch`` files, in the given order."""
    if files_per_batch < 1:
        raise errors.UserError("mini_batch_size must be at least 1 file", field="mini_batch_size")
    make = minibatch.MiniBatch
    return [make(i, "files", len(chunk), chunk)
            for i, chunk in enumerate([paths[s:s + files_per_batch] for s in range(0, len(paths), files_per_batch)])]


def materialise(paths: list[str], scratch_dir: str) -> list[str]:
    """Local paths for a files mini-batch: local files as they are, remote files
    downloaded into ``scratch_dir`` (keeping their bucket/key layout so two
    files with the same name never collide)."""
    local: list[str] = []
    for path in paths:
        if uris.is_local(path):
            local.append(path)
        else:
            local.append(download(path, scratch_dir))
    return local


def download(url: str, scratch_dir: str) -> str:
    """Copy one remote file into ``scratch_dir`` and return its local path."""
    fs, inner = uris.filesystem(url)
    target = os.path.join(scratch_dir, *[p for p in inner.split("/") if p not in ("", ".", "..")])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = target + ".part"
    with fs.open(inner, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, target)
    return target
