"""File inputs: list the files of a folder (local or fsspec URL), split the list
into mini-batches by count, and materialise a files mini-batch as local paths.

Called by ``pjob.data.plan`` / ``pjob.data.read_mini_batch`` (uri_folder,
uri_file, MLTable file lists, mltable folders without an MLTable file).

Order is deterministic: lexicographic by the path relative to the listed root,
``/``-separated. Hidden files and folders (name starting with ``.``) are
skipped at every depth. Entries that are not regular files (dangling
symlinks, symlink loops, FIFOs, sockets, devices) are skipped too, and
``list_files_noting`` says which, so planning can tell the user once.
A files plan is a ``FileBatches``: the listing and the batch size, making
each ``MiniBatch`` only when it is read (a folder of 100,000 files plans
without 100,000 objects; the manifest is written from the paths).
Nothing here imports pandas or pyarrow.
"""

from __future__ import annotations

import errno
import hashlib
import operator
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from typing import overload

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
        found = _walk_local(location, skipped)
        found.sort()  # location + "/" + relative path each (POSIX, as pjob is): the relative paths' order
        return found
    return _list_remote(location)


def _walk_local(root: str, skipped: list[tuple[str, str]]) -> list[str]:
    """The non-hidden files under root, unsorted, each as ``scandir`` spells
    it: root, a separator (none added after a root ending with one), the
    relative path (scandir, iterative). What is not a regular file goes to
    ``skipped`` as ``(relative /-separated path, what it is)``."""
    found: list[str] = []
    append = found.append
    real_root = os.path.realpath(root)
    seen_dirs = {real_root}
    stack: list[tuple[str, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name[0] == ".":  # hidden (a name is never empty)
                    continue
                if entry.is_file(follow_symlinks=False):  # the common case: a regular file, no stat call
                    append(entry.path)
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
                elif entry.is_file():  # a symlink to a file
                    append(entry.path)
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


def plan_files(paths: list[str], files_per_batch: int) -> FileBatches:
    """Consecutive runs of ``files_per_batch`` files, in the given order."""
    if files_per_batch < 1:
        raise errors.UserError("mini_batch_size must be at least 1 file", field="mini_batch_size")
    return FileBatches(paths, files_per_batch)


class FileBatches(Sequence[minibatch.MiniBatch]):
    """The mini-batches of a files plan, made on demand: mini-batch ``i``
    holds ``paths[i * per_batch : (i + 1) * per_batch]`` (all full but the
    last). Reads as the list of ``MiniBatch`` it stands for (index, slice,
    iterate, ``==`` a list); ``paths`` is not to be changed once planned."""

    def __init__(self, paths: list[str], per_batch: int):
        self.paths = paths
        self.per_batch = per_batch

    def __len__(self) -> int:
        return -(-len(self.paths) // self.per_batch)

    @overload
    def __getitem__(self, key: int) -> minibatch.MiniBatch: ...
    @overload
    def __getitem__(self, key: slice) -> list[minibatch.MiniBatch]: ...
    def __getitem__(self, key: int | slice) -> minibatch.MiniBatch | list[minibatch.MiniBatch]:
        if isinstance(key, slice):
            return [self._make(i) for i in range(len(self))[key]]
        count = len(self)
        i = operator.index(key)  # an int, or what stands for one (TypeError otherwise, as a list)
        if i < 0:
            i += count
        if not 0 <= i < count:
            raise IndexError("mini-batch index out of range")
        return self._make(i)

    def _make(self, i: int) -> minibatch.MiniBatch:
        chunk = self.paths[i * self.per_batch : (i + 1) * self.per_batch]
        return minibatch.MiniBatch(i, "files", len(chunk), chunk)

    def __iter__(self) -> Iterator[minibatch.MiniBatch]:
        return map(self._make, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileBatches) and other.per_batch == self.per_batch:
            return self.paths == other.paths
        if isinstance(other, (FileBatches, list)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compares by value, as the list it stands for

    def __repr__(self) -> str:
        return f"FileBatches({len(self.paths)} files, {self.per_batch} per mini-batch)"

    def item_counts(self) -> list[int]:
        """Each mini-batch's file count, without making the mini-batches."""
        full, rest = divmod(len(self.paths), self.per_batch)
        return [self.per_batch] * full + ([rest] if rest else [])


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
