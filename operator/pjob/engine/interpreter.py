"""Workers in another Python environment (``pjob run --python STEP=PATH``):
the worker runtime (``pjob.engine.worker`` and ``azureml_user``) runs under
the step's own interpreter, which brings its own pandas/pyarrow and whatever
the entry script imports; pjob's own dependencies are not needed there (the
worker imports only the standard library, plus pandas and pyarrow for table
inputs).

The step's interpreter sees pjob's two packages, and nothing else of pjob's
environment, through a folder of symlinks (``<work_dir>/pyshim``) put first
on its ``PYTHONPATH``. Called by ``pjob.engine.procs`` (the command line) and
``pjob.local.python_env`` (the check before a run).
"""

from __future__ import annotations

import os
from typing import Any

import azureml_user

SHIM = "pyshim"
_PJOB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../pjob (this file is pjob/engine/...)
MIN_PYTHON = (3, 10)
# what a table input needs in the step's environment: pyproject's floors (tests/unit/test_ci_floors.py checks)
FLOORS = {"pandas": (2, 0), "pyarrow": (14,)}


def shim_dir(work_dir: str) -> str:
    """A folder holding only links to pjob's packages (made once, safe to race)."""
    folder = os.path.join(work_dir, SHIM)
    os.makedirs(folder, exist_ok=True)
    for source in (_PJOB_DIR, os.path.dirname(os.path.abspath(azureml_user.__file__))):
        link = os.path.join(folder, os.path.basename(source))
        if not os.path.lexists(link):
            try:
                os.symlink(source, link)
            except FileExistsError:
                pass
    return folder


def worker_env(env: dict[str, str], shim: str) -> dict[str, str]:
    """``env`` with the shim first on PYTHONPATH (what was there stays after it)."""
    out = dict(env)
    out["PYTHONPATH"] = shim + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out.pop("PYTHONHOME", None)
    return out


PROBE = (
    "import json, sys\n"
    "out = {'python': list(sys.version_info[:3])}\n"
    "for name in ('pandas', 'pyarrow'):\n"
    "    try:\n"
    "        out[name] = __import__(name).__version__\n"
    "    except Exception as exc:\n"
    "        out[name] = None\n"
    "print(json.dumps(out))\n"
)


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def problems(probe: dict[str, Any], needs_tables: bool) -> list[str]:
    """What the probed interpreter lacks for a worker (pure)."""
    out = []
    if tuple(probe.get("python") or ()) < MIN_PYTHON:
        out.append(
            f"it is Python {'.'.join(map(str, probe.get('python') or ['?']))}; pjob's workers need Python "
            f"{'.'.join(map(str, MIN_PYTHON))} or newer"
        )
    if needs_tables:
        for name, floor in FLOORS.items():
            have = probe.get(name)
            if have is None:
                out.append(f"{name} is not installed there (a table input needs {name}>={'.'.join(map(str, floor))})")
            elif version_tuple(have) < floor:
                out.append(f"it has {name} {have}; a table input needs {name}>={'.'.join(map(str, floor))}")
    return out
