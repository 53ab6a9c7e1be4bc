"""Shared helpers for the data-layer tests: small input trees written to tmp_path."""

from __future__ import annotations

import os

import pytest


def write_file(root, rel: str, text: str = "x", mode: str = "w") -> str:
    """Write ``text`` at ``root/rel`` (creating folders) and return the path."""
    path = os.path.join(str(root), *rel.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as fh:
        fh.write(text)
    return path


@pytest.fixture
def tree(tmp_path):
    """A folder with nested files, hidden files/folders and names that sort tricky."""
    for rel in ["b.txt", "a/z.txt", "a.txt", "a/b/c.txt", "A.txt", ".hidden", ".git/config", "a/.h/x.txt", "a/_ok.txt"]:
        write_file(tmp_path / "in", rel, rel)
    return tmp_path / "in"


@pytest.fixture
def write():
    """The ``write_file`` helper as a fixture (test folders are not packages)."""
    return write_file
