"""File inputs: list the files of a folder (local or fsspec URL), split the list
into mini-batches by count, and materialise a files mini-batch as local paths.

Called by ``pjob.data.plan`` / ``pjob.data.read_mini_batch`` (uri_folder,
uri_file, MLTable file lists, mltable folders without an MLTable file).

Order is deterministic: lexicographic by the path relative to the listed root,
``/``-separated. Hidden files and folders (name starting with ``.``) are
skipped at every depth. Entries that are not regular files (dangling
symlinks, symlink loops, FIFOs, sockets, devices) are skipped too, and
``list_files_noting`` says which, so planning can tell the user once.
Nothing here imports pandas or pyarrow.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat

from pjob.data import minibatch, uris
from pjob.spec import errors


def list_files(location: str) -> list[str]:
    """Every non-hidden file under ``location`` (or ``[location]`` for a file),
    as locations, in lexicographic relative-path order."""
    return list_files_noting(location)[0]


def list_files_noting(location: str) -> tuple[list[str], list[tuple[str, str]]]:
    """``list_files``, and the entries skipped because they are not regular
    files: ``(relative path, what it is)`` in path order (local folders only)."""
    skipped: list[tuple[str, str]] = []
    return _list(location, skipped), sorted(skipped)


def _list(location: str, skipped: list[tuple[str, str]]) -> list[str]:
    if uris.is_local(location):
        if os.path.isfile(location):
            return [location]
        if not os.path.isdir(location):
            raise errors.UserError(f"input path '{location}' does not exist; check the path or datastore", field="path")
        prefix = location if location.endswith(os.sep) else location + os.sep
        rels = sorted(_walk_local(location, skipped))
        if os.sep != "/":
            rels = [rel.replace("/", os.sep) for rel in rels]
        return [prefix + rel for rel in rels]  # os.path.join per file costs more than the listing
    return _list_remote(location)


def _walk_local(root: str, skipped: list[tuple[str, str]] | None = None) -> list[str]:
    """Relative ``/``-separated paths of non-hidden files under root (scandir,
    iterative); what is not a regular file goes to ``skipped``."""
    skipped = [] if skipped is None else skipped
    found: list[str] = []
    real_root = os.path.realpath(root)
    seen_dirs = {real_root}
    stack: list[tuple[str, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = prefix + entry.name
                try:
                    is_dir = entry.is_dir()
                except OSError:  # a symlink loop: stat fails with ELOOP
                    skipped.append((rel, _what(entry.path)))
                    continue
                if is_dir:
                    if entry.is_symlink():  # guard against symlink loops only where they can happen
                        real = os.path.realpath(entry.path)
                        if real in seen_dirs or _listed_anyway(real, real_root):
                            skipped.append((rel, "symlink to a folder already listed (a loop?)"))
                            continue
                        seen_dirs.add(real)
                    stack.append((entry.path, rel + "/"))
                elif entry.is_file():
                    found.append(rel)
                else:
                    skipped.append((rel, _what(entry.path)))
    return found


def _listed_anyway(real: str, real_root: str) -> bool:
    """A folder inside the listed root (and not hidden) is listed on its own:
    a symlink to it would list its files twice (pure)."""
    if real == real_root:
        return True
    if not real.startswith(real_root.rstrip(os.sep) + os.sep):
        return False
    return not any(part.startswith(".") for part in os.path.relpath(real, real_root).split(os.sep))


def _what(path: str) -> str:
    """What a directory entry that is neither a file nor a folder is."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        return "dangling symlink" if os.path.islink(path) else f"unreadable ({exc.strerror})"
    return kind_of_mode(mode)


def kind_of_mode(mode: int) -> str:
    """Name of a file type that is not a regular file or folder (pure)."""
    for test, name in (
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def describe_skipped(skipped: list[tuple[str, str]], shown: int = 3) -> str:
    """One sentence: how many entries were skipped and the first few (pure)."""
    if not skipped:
        return ""
    first = ", ".join(f"{rel} ({what})" for rel, what in skipped[:shown])
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (
        f"{len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} of the input skipped, not regular files: "
        f"{first}{more}"
    )


def _list_remote(location: str) -> list[str]:
    fs, root = uris.filesystem(location)
    if fs.isfile(root):
        return [location]
    if not fs.isdir(root):
        raise errors.UserError(f"input path '{location}' does not exist; check the URL or datastore", field="path")
    root = root.rstrip("/")
    rels = []
    for path in fs.find(root, detail=False):
        rel = path[len(root) :].lstrip("/")
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
    return [
        make(i, "files", len(chunk), chunk)
        for i, chunk in enumerate([paths[s : s + files_per_batch] for s in range(0, len(paths), files_per_batch)])
    ]


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
