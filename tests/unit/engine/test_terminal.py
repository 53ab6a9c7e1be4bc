"""engine.jobview.terminal_state: the one answer to "is it terminal?" (the
operator's conditions, `pjob status --follow`, local runs)."""

import pytest
from pjob.engine import jobview
from pjob.kube import conditions


def cond(type_, status="True"):
    return {"type": type_, "status": status}


CASES = [
    ("no conditions", None, None),
    ("running", [cond("Running")], None),
    ("succeeded", [cond("Running", "False"), cond("Succeeded")], "Succeeded"),
    ("failed", [cond("SpecValid", "False"), cond("Failed")], "Failed"),
    ("a False terminal condition is not terminal", [cond("Failed", "False")], None),
]


@pytest.mark.parametrize("name,conds,expected", CASES, ids=[c[0] for c in CASES])
def test_terminal_state(name, conds, expected):
    assert jobview.terminal_state(conds) == expected
    assert conditions.terminal(conds) == expected  # the operator asks the same function
    assert jobview.terminal({"status": {"conditions": conds}}) is (expected is not None)
