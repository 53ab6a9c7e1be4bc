"""Small file helpers shared by the engine, the local driver and the operator."""

from __future__ import annotations

import os


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so readers (and a crash) see the old file or
    the new one, never half of it. The temporary name carries the pid, so
    processes writing the same file at once do not clash."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
