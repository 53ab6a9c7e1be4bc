"""PipelineJob reconcile, table-driven: steps start once their upstream
succeeded; a failure stops everything downstream."""

import pytest
from kube_wrappers import CR
from pjob.engine import dag
from pjob.kube import constants as c
from pjob.kube import reconcile_pipeline as rp

NOW = 1_800_000_000.0


def child(name, kind):
    return {"kind": "ParallelJob" if kind == "parallel" else "Job", "metadata": {"name": f"p-{name}"}}


# prep -> score -> report ; side (independent)
STEPS = [
    rp.StepInfo("prep", "command", [], child("prep", "command")),
    rp.StepInfo("side", "command", [], child("side", "command")),
    rp.StepInfo("score", "parallel", ["prep"], child("score", "parallel")),
    rp.StepInfo("report", "command", ["score"], child("report", "command")),
]


def pj(state):
    if state == "Running":
        return {"status": {"conditions": [{"type": "Running", "status": "True"}], "progress": "3/10"}}
    return {"status": {"conditions": [{"type": state, "status": "True", "message": f"pj {state}"}]}}


def cmd(state):
    if state == "Running":
        return {"status": {"active": 1}}
    return {"status": {"conditions": [{"type": "Complete" if state == "Succeeded" else "Failed", "status": "True"}]}}


def obs(children, problems=None, cont=False):
    body = CR("p", kind=c.PIPELINE_KIND).obj()
    return rp.Observed(
        body=body, now=NOW, problems=problems, steps=STEPS, children=children, continue_on_step_failure=cont
    )


# name, children, expected creates, step states, pipeline condition that is True (besides SpecValid)
CASES = [
    (
        "fresh: roots start",
        {},
        ["p-prep", "p-side"],
        {"prep": "Running", "side": "Running", "score": "Pending", "report": "Pending"},
        c.RUNNING,
    ),
    (
        "prep done: score starts",
        {"prep": cmd("Succeeded"), "side": cmd("Running")},
        ["p-score"],
        {"prep": "Succeeded", "side": "Running", "score": "Running", "report": "Pending"},
        c.RUNNING,
    ),
    (
        "no step is created twice",
        {"prep": cmd("Succeeded"), "side": cmd("Succeeded"), "score": pj("Running")},
        [],
        {"prep": "Succeeded", "side": "Succeeded", "score": "Running", "report": "Pending"},
        c.RUNNING,
    ),
    (
        "all succeeded",
        {"prep": cmd("Succeeded"), "side": cmd("Succeeded"), "score": pj("Succeeded"), "report": cmd("Succeeded")},
        [],
        {"prep": "Succeeded", "side": "Succeeded", "score": "Succeeded", "report": "Succeeded"},
        c.SUCCEEDED,
    ),
    (
        "prep failed, side still running: nothing new starts, not terminal yet",
        {"prep": cmd("Failed"), "side": cmd("Running")},
        [],
        {"prep": "Failed", "side": "Running", "score": "Skipped", "report": "Skipped"},
        c.RUNNING,
    ),
    (
        "prep failed, side done: pipeline Failed",
        {"prep": cmd("Failed"), "side": cmd("Succeeded")},
        [],
        {"prep": "Failed", "side": "Succeeded", "score": "Skipped", "report": "Skipped"},
        c.FAILED,
    ),
    (
        "parallel step failed: downstream skipped",
        {"prep": cmd("Succeeded"), "side": cmd("Succeeded"), "score": pj("Failed")},
        [],
        {"prep": "Succeeded", "side": "Succeeded", "score": "Failed", "report": "Skipped"},
        c.FAILED,
    ),
    (
        "side failed first: independent pending steps do not start",
        {"prep": cmd("Succeeded"), "side": cmd("Failed")},
        [],
        {"prep": "Succeeded", "side": "Failed", "score": "Skipped", "report": "Skipped"},
        c.FAILED,
    ),
]


@pytest.mark.parametrize("name,children,creates,states,condition", CASES, ids=[x[0] for x in CASES])
def test_reconcile_pipeline(name, children, creates, states, condition):
    d = rp.reconcile(obs(children))
    assert [o["metadata"]["name"] for o in d.create] == creates
    assert {k: v["state"] for k, v in d.status["steps"].items()} == states
    true = [x["type"] for x in d.status["conditions"] if x["status"] == "True"]
    assert true == [condition]
    assert d.status["state"] == {c.RUNNING: "Running", c.SUCCEEDED: "Succeeded", c.FAILED: "Failed"}[condition]


def test_continue_on_step_failure_starts_independent_steps():
    d = rp.reconcile(obs({"prep": cmd("Running"), "side": cmd("Failed")}, cont=True))
    assert d.status["steps"]["side"]["state"] == "Failed"
    assert d.status["steps"]["score"]["state"] == "Pending"  # waits for prep, not skipped


def test_failure_message_names_the_step():
    d = rp.reconcile(obs({"prep": cmd("Succeeded"), "side": cmd("Succeeded"), "score": pj("Failed")}))
    failed = next(x for x in d.status["conditions"] if x["type"] == c.FAILED)
    assert failed["reason"] == c.REASON_STEP_FAILED
    assert "score" in failed["message"] and "pj Failed" in failed["message"]
    assert [e.type for e in d.events] == [c.EVENT_WARNING]


def test_invalid_pipeline_creates_nothing():
    d = rp.reconcile(obs({}, problems=["spec.jobs.x.command: a command step needs command:"]))
    assert d.create == []
    conds = {x["type"]: x["status"] for x in d.status["conditions"]}
    assert conds == {c.SPEC_VALID: "False", c.FAILED: "True"}


def test_skipped_steps_say_why_as_pjob_run_does():
    d = rp.reconcile(obs({"prep": cmd("Failed"), "side": cmd("Running")}))
    steps = d.status["steps"]
    assert steps["score"]["message"] == dag.MSG_UPSTREAM.format(step="prep")  # engine.dag's reason
    assert steps["report"]["message"] == dag.MSG_UPSTREAM.format(step="score")
    d = rp.reconcile(obs({"prep": cmd("Succeeded"), "side": cmd("Failed")}))
    assert d.status["steps"]["score"]["message"] == dag.MSG_STOPPED
