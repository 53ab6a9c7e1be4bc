"""Glob patterns of MLTable ``paths: - pattern: ...`` entries.

Called by ``pjob.data.mltable.list_paths``. ``*`` and ``?`` and ``[abc]``
match inside one path segment; ``**`` matches any number of folders
(including none, so ``./**/*.csv`` also matches ``a.csv`` at the top).
Files are listed once under the pattern's fixed prefix (the folders before
the first wildcard) and matched by regular expression, hidden files skipped,
in lexicographic relative-path order.
"""

from __future__ import annotations

import os
import re

from pjob.data import files, uris
from pjob.spec import errors

_WILDCARD = re.compile(r"[*?\[]")


def split(pattern: str) -> tuple[str, str]:
    """``(fixed_prefix_location, relative_glob)`` for a pattern location."""
    sep = os.sep if uris.is_local(pattern) else "/"
    parts = pattern.split(sep)
    for i, part in enumerate(parts):
        if _WILDCARD.search(part):
            return sep.join(parts[:i]) or sep, "/".join(parts[i:])
    return sep.join(parts[:-1]) or sep, parts[-1]


def to_regex(glob: str) -> re.Pattern[str]:
    """Translate a relative ``/``-separated glob into an anchored regex."""
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                body = glob[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def match(pattern: str) -> list[str]:
    """Every file location matching ``pattern`` (an absolute local path or URL glob)."""
    root, glob = split(pattern)
    regex = to_regex(glob)
    try:
        candidates = files.list_files(root)
    except errors.UserError:  # a pattern whose folder is missing matches nothing
        return []
    sep_len = len(root.rstrip("/\\")) + 1
    return [c for c in candidates if regex.match(c[sep_len:].replace("\\", "/"))]
