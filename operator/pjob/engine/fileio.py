"""Small file helpers shared by the engine, the local driver and the operator:
atomic replacement of a file, and where the new content is staged meanwhile.

A file is never written in place where a reader looks: the new content goes
to a staging name first and is renamed over the destination. Staging names
live in the step's work folder when it is on the destination's filesystem
(a rename cannot cross filesystems), else hidden beside the destination
(pjob's readers skip names starting with "."). ``remove_staged`` removes what
a killed writer left; callers run it before anything reads the destination.
"""

from __future__ import annotations

import glob
import os


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so readers (and a crash) see the old file or
    the new one, never half of it. The temporary name carries the pid, so
    processes writing the same file at once do not clash."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        discard(tmp)  # a full disk: no half-written file left beside the real one
        if isinstance(exc, OSError) and not exc.filename:  # a failed flush names no file: say which
            raise OSError(exc.errno, exc.strerror, path) from None
        raise


def remove_atomic_leftovers(path: str) -> list[str]:
    """Delete what ``write_text_atomic(path, ...)`` left when its process was killed."""
    removed = []
    for tmp in glob.glob(f"{glob.escape(path)}.tmp.*"):
        try:
            os.unlink(tmp)
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


def staging_name(destination: str, purpose: str, pid: int) -> str:
    """The hidden file name that stages ``destination``'s new content (pure)."""
    return f".{os.path.basename(destination)}.pjob-{purpose}.{pid}.tmp"


def staging_path(destination: str, staging_dir: str, purpose: str) -> str:
    """Where to write ``destination``'s new content before ``os.replace``:
    in ``staging_dir`` when it shares the destination's filesystem, else
    hidden beside the destination. Creates both folders."""
    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    os.makedirs(staging_dir, exist_ok=True)
    name = staging_name(destination, purpose, os.getpid())
    if os.stat(staging_dir).st_dev == os.stat(parent).st_dev:
        return os.path.join(staging_dir, name)
    return os.path.join(parent, name)


def staged_patterns(destination: str, staging_dir: str) -> list[str]:
    """Glob patterns of every staging file ``destination`` may have left (pure):
    in the staging folder, hidden beside it, and the name older pjob versions
    used beside it (``<name>.pjob-merge.<pid>.tmp``)."""
    parent = glob.escape(os.path.dirname(os.path.abspath(destination)))
    base = glob.escape(os.path.basename(destination))
    hidden = f".{base}.pjob-*.tmp"
    return [
        os.path.join(glob.escape(staging_dir), hidden),
        os.path.join(parent, hidden),
        os.path.join(parent, f"{base}.pjob-merge.*.tmp"),
    ]


def remove_staged(destination: str, staging_dir: str) -> list[str]:
    """Delete the staging files a killed writer of ``destination`` left; returns them."""
    removed = []
    for pattern in staged_patterns(destination, staging_dir):
        for path in glob.glob(pattern):
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def discard(path: str) -> None:
    """Remove a half-written file after a failed write (a full disk stays full otherwise)."""
    try:
        os.unlink(path)
    except OSError:
        pass
