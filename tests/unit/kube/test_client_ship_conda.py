"""`pjob submit` ships a step's environment conda file with its code, so pods
that install its pip list at start find it."""

import os

from pjob.kube import ship
from pjob.spec import checks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_seed_conda_file_is_shipped():
    loaded = checks.load_and_check(os.path.join(ROOT, "tests", "fixtures", "seed", "pipeline.yml"))
    items = {
        (i.kind, os.path.relpath(i.source, os.path.join(ROOT, "tests", "fixtures", "seed")))
        for i in ship.local_items(loaded)
    }
    assert ("conda", os.path.join("environment", "environment_parallel.yml")) in items
    assert ("code", "script") in items
