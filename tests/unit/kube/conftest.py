import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def project(tmp_path):
    """A job folder with a data folder (docs/) and a scoring script (code/score.py)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("a")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("def run(mb):\n    return mb\n")
    return tmp_path
