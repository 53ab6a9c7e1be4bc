"""``pjob.engine.diskfull``: what counts as a full disk and how it is said."""

import errno
import sqlite3

import pytest
from pjob.engine import diskfull


@pytest.mark.parametrize(
    "exc,full",
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (OSError(errno.EACCES, "Permission denied"), False),
        (sqlite3.OperationalError("database is locked"), False),
        (ValueError("no space"), False),
    ],
)
def test_is_disk_full(exc, full):
    assert diskfull.is_disk_full(exc) is full


def test_the_message_names_the_file_else_the_folder_and_how_to_resume():
    named = diskfull.message(OSError(errno.ENOSPC, "No space left on device", "/runs/x/out.txt"), "/runs/x")
    assert named.startswith("no space left on device (writing /runs/x/out.txt)") and "run the same command" in named
    assert "(writing /runs/x)" in diskfull.message(OSError(errno.ENOSPC, "No space left on device"), "/runs/x")
