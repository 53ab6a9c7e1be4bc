"""Fixtures for local end-to-end tests (helpers live in pjobrun.py)."""

import pytest
from pjobrun import run_pjob


@pytest.fixture
def pjob():
    return run_pjob
