"""Helpers for local end-to-end tests: run the real `pjob` CLI as a process.
(Not named conftest.py: several test folders have one, and `from conftest
import` would pick whichever was imported first.)"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_pjob(*args, cwd=None, timeout=240, env=None):
    """Run `python -m pjob.cli ARGS` and return the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "pjob.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
