"""A full disk (or quota) is a job failure, not bad input: recognise it
whatever raised it (an OSError, SQLite's "database or disk is full") and say
it with the path and how to go on. Nothing a full disk interrupted is counted
as a failed attempt: the mini-batch goes back to the queue, so the same
command resumes once space is freed.

Used by the worker (committing rows), the agent, the local driver and the CLI.
"""

from __future__ import annotations

import errno
import sys

EXIT_NO_SPACE = 4  # an agent's exit code when it stopped because the disk is full
NO_SPACE = "NO_SPACE"  # the attempt status a worker reports when its rows could not be written
RESUME = "free space there and run the same command again to resume"


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def message(exc: BaseException, path: str | None = None) -> str:
    """``no space left on device (writing PATH); free space ...`` (pure):
    the file that could not be written, else ``path`` (the folder being written)."""
    where = getattr(exc, "filename", None) or path
    return f"no space left on device{f' (writing {where})' if where else ''}; {RESUME}"
