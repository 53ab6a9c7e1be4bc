"""What a folder listing skips because it is not a regular file, and how
that is said (``pjob.data.files``): real entries in a tmp folder."""

import os
import stat

from pjob.data import files


def test_the_listing_notes_every_entry_that_is_not_a_file(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    os.symlink("loop_b", tmp_path / "loop_a")
    os.symlink("loop_a", tmp_path / "loop_b")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "sub", tmp_path / "sub" / "again")  # a folder reached twice
    paths, skipped = files.list_files_noting(str(tmp_path))
    assert paths == [str(tmp_path / "a.txt")]
    assert skipped == [
        ("dangling", "dangling symlink"),
        ("loop_a", "symlink loop"),
        ("loop_b", "symlink loop"),
        ("pipe", "FIFO (named pipe)"),
        ("sub/again", "symlink to a folder already listed (a loop?)"),
    ]


def test_describe_skipped_counts_and_shows_the_first_few():
    assert files.describe_skipped([]) == ""
    one = files.describe_skipped([("p", "FIFO (named pipe)")])
    assert one == "1 entry of the input skipped, not regular files: p (FIFO (named pipe))"
    many = files.describe_skipped([(f"x{i}", "socket") for i in range(5)])
    assert many.startswith("5 entries") and many.endswith("x2 (socket) and 2 more")


def test_kind_of_mode():
    assert files.kind_of_mode(stat.S_IFIFO) == "FIFO (named pipe)"
    assert files.kind_of_mode(stat.S_IFSOCK) == "socket"
    assert files.kind_of_mode(stat.S_IFCHR) == "character device"
