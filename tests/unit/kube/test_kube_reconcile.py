"""ParallelJob reconcile, table-driven: observation in, decision out."""

import pytest
from kube_wrappers import CR, job, progress
from pjob.engine import policy
from pjob.kube import constants as c
from pjob.kube import reconcile as rec

NOW = 1_800_000_000.0
LIMITS = policy.Limits(mini_batch_error_threshold=2, first_task_creation_timeout=600, progress_update_timeout=1000)
DESIRED = [
    {"kind": "ConfigMap", "metadata": {"name": "pj-task"}},
    {"kind": "ConfigMap", "metadata": {"name": "pj-queue"}},
    {"kind": "ServiceAccount", "metadata": {"name": "pj-worker"}},
    {"kind": "Role", "metadata": {"name": "pj-worker"}},
    {"kind": "RoleBinding", "metadata": {"name": "pj-worker"}},
    {"kind": "Job", "metadata": {"name": "pj-workers"}, "spec": {"parallelism": 2}},
]
ALL = {(o["kind"], o["metadata"]["name"]) for o in DESIRED}
STARTED = rec.rfc3339(NOW - 100)
VERDICT_OK = {"state": "Succeeded", "rule": None, "message": "10 of 10 mini-batches processed", "time": NOW - 5}
VERDICT_BAD = {"state": "Failed", "rule": "mini_batch_error_threshold", "message": "3 failed", "time": NOW - 5}


def running(**status):
    return (
        CR()
        .condition(c.SPEC_VALID, c.TRUE, c.REASON_SPEC_VALID, c.MSG_SPEC_VALID)
        .condition(c.RUNNING, c.TRUE, c.REASON_IN_PROGRESS, "0/10 mini-batches done, 0 failed")
        .status(startTime=STARTED, **status)
    )


def obs(body, **kw):
    kw.setdefault("desired", DESIRED)
    kw.setdefault("limits", LIMITS)
    return rec.Observed(body=body.obj(), now=NOW, **kw)


# name, observation, expected: creates (kinds), stop, finalise state, {condition: (status, reason)}, event reasons
CASES = [
    (
        "invalid spec: SpecValid False and Failed, nothing created",
        obs(CR(), problems=["spec.input_data: ${{inputs.nope}} names no input"]),
        [],
        False,
        None,
        {c.SPEC_VALID: ("False", c.REASON_SPEC_INVALID), c.FAILED: ("True", c.REASON_SPEC_INVALID)},
        [c.REASON_SPEC_INVALID, c.REASON_SPEC_INVALID],
    ),
    (
        "new valid job: every child created, Running",
        obs(CR(), problems=[]),
        [o["kind"] for o in DESIRED],
        False,
        None,
        {c.SPEC_VALID: ("True", c.REASON_SPEC_VALID), c.RUNNING: ("True", c.REASON_WORKERS_STARTED)},
        [c.REASON_SPEC_VALID, c.REASON_WORKERS_STARTED],
    ),
    (
        "restart with every child present: nothing created, no events",
        obs(running(), existing=ALL, worker_job=job(active=2), counters=progress(pending=10), problems=None),
        [],
        False,
        None,
        {c.RUNNING: ("True", c.REASON_IN_PROGRESS)},
        [],
    ),
    (
        "a missing child is re-created, only that one",
        obs(running(), existing=ALL - {("Role", "pj-worker")}, worker_job=job(active=2), counters=progress(pending=10)),
        ["Role"],
        False,
        None,
        {c.RUNNING: ("True", c.REASON_IN_PROGRESS)},
        [],
    ),
    (
        "progress updates the message, not the transition",
        obs(
            running(), existing=ALL, worker_job=job(active=2), counters=progress(pending=4, leased=2, done=4, last=NOW)
        ),
        [],
        False,
        None,
        {c.RUNNING: ("True", c.REASON_IN_PROGRESS)},
        [],
    ),
    (
        "all final: verdict Succeeded, waits for the workers",
        obs(running(), existing=ALL, worker_job=job(active=2), workers_running=2, counters=progress(done=10)),
        [],
        False,
        None,
        {c.RUNNING: ("True", c.REASON_FINALISING)},
        [],
    ),
    (
        "threshold tripped: Failed verdict stops the workers at once",
        obs(
            running(),
            existing=ALL,
            worker_job=job(active=2),
            workers_running=2,
            counters=progress(pending=5, done=2, failed=3, last=NOW),
        ),
        [],
        True,
        None,
        {c.RUNNING: ("True", c.REASON_FINALISING)},
        [],
    ),
    (
        "verdict recorded, workers gone: finalise",
        obs(
            running(verdict=VERDICT_OK),
            existing=ALL,
            worker_job=job(succeeded=2, condition="Complete"),
            counters=progress(done=10),
        ),
        [],
        False,
        "Succeeded",
        {c.RUNNING: ("True", c.REASON_FINALISING)},
        [],
    ),
    (
        "verdict recorded: a deleted child is not re-created",
        obs(running(verdict=VERDICT_BAD), existing=ALL - {("Job", "pj-workers")}, counters=progress(done=7, failed=3)),
        [],
        False,
        "Failed",
        {c.RUNNING: ("True", c.REASON_FINALISING)},
        [],
    ),
    (
        "Succeeded verdict, workers still up after the grace: stop them",
        obs(
            running(verdict={**VERDICT_OK, "time": NOW - 90}),
            existing=ALL,
            worker_job=job(active=1),
            workers_running=1,
            counters=progress(done=10),
            stop_grace=60,
        ),
        [],
        True,
        None,
        {c.RUNNING: ("True", c.REASON_FINALISING)},
        [],
    ),
    (
        "the worker Job failed before the queue drained",
        obs(
            running(),
            existing=ALL,
            worker_job=job(failed=6, condition="Failed"),
            counters=progress(pending=3, done=7, last=NOW),
        ),
        [],
        False,
        "Failed",
        {c.RUNNING: ("True", c.REASON_FINALISING)},
        [],
    ),
    (
        "no mini-batch started within first_task_creation_timeout",
        obs(
            CR()
            .condition(c.SPEC_VALID, c.TRUE, c.REASON_SPEC_VALID, c.MSG_SPEC_VALID)
            .condition(c.RUNNING, c.TRUE, c.REASON_WORKERS_STARTED, "x")
            .status(startTime=rec.rfc3339(NOW - 700)),
            existing=ALL,
            worker_job=job(active=2),
            workers_running=2,
            counters=progress(pending=10, attempts=0),
        ),
        [],
        True,
        None,
        {c.RUNNING: ("True", c.REASON_FINALISING)},
        [],
    ),
    (
        "terminal job: no-op",
        obs(CR().condition(c.SUCCEEDED, c.TRUE), existing=set(), problems=[]),
        [],
        False,
        None,
        {c.SUCCEEDED: ("True", "R")},
        [],
    ),
]


@pytest.mark.parametrize("name,observed,creates,stop,finalise,conds,events", CASES, ids=[x[0] for x in CASES])
def test_reconcile(name, observed, creates, stop, finalise, conds, events):
    d = rec.reconcile(observed)
    assert [o["kind"] for o in d.create] == creates
    assert d.stop_workers is stop
    assert (d.finalise.state if d.finalise else None) == finalise
    got = {x["type"]: (x["status"], x["reason"]) for x in d.status.get("conditions", [])}
    assert {k: got.get(k) for k in conds} == conds
    assert [e.reason for e in d.events] == events


def test_reconcile_is_idempotent():
    """Applying a decision's status and reconciling the same world again changes nothing."""
    first = rec.reconcile(obs(CR(), problems=[]))
    body = CR().obj()
    body["status"] = first.status
    again = rec.reconcile(
        rec.Observed(body=body, now=NOW + 1, desired=DESIRED, existing=ALL, worker_job=job(active=2), limits=LIMITS)
    )
    assert again.create == [] and again.events == []
    assert again.status["conditions"] == first.status["conditions"]


def test_counters_and_printer_fields():
    d = rec.reconcile(
        obs(
            running(),
            existing=ALL,
            worker_job=job(active=2),
            counters=progress(pending=3, leased=2, done=4, failed=1, items_ok=40, items_failed=2, last=NOW),
        )
    )
    assert d.status["miniBatches"] == {"total": 10, "done": 4, "failed": 1}
    assert d.status["items"] == {"succeeded": 40, "failed": 2}
    assert d.status["progress"] == "5/10"
    assert d.status["state"] == c.STATE_RUNNING
    assert d.status["observedGeneration"] == 1
    assert d.status["startTime"] == STARTED


@pytest.mark.parametrize(
    "verdict,condition,reason",
    [
        (policy.Verdict("Succeeded", None, "10 of 10"), c.SUCCEEDED, c.REASON_COMPLETED),
        (policy.Verdict("Failed", "mini_batch_error_threshold", "3 failed"), c.FAILED, "MiniBatchErrorThreshold"),
        (policy.Verdict("Failed", "no_successes", "nothing"), c.FAILED, "NoSuccesses"),
    ],
)
def test_finished_sets_the_terminal_condition(verdict, condition, reason):
    body = running(verdict=VERDICT_OK).obj()
    d = rec.finished(body, body["status"], verdict, progress(done=10), NOW, outputs={"out": "/x"}, logs="/logs")
    conds = {x["type"]: x for x in d.status["conditions"]}
    assert conds[condition]["status"] == "True" and conds[condition]["reason"] == reason
    assert conds[c.RUNNING]["status"] == "False"
    assert "verdict" not in d.status
    assert d.status["completionTime"] == rec.rfc3339(NOW)
    assert d.status["state"] == condition
    assert d.status["outputs"] == {"out": "/x"} and d.status["logs"] == "/logs"
    assert [e.reason for e in d.events] == [reason]


@pytest.mark.parametrize(
    "worker_job,message",
    [
        (
            job(failed=6, condition="Failed"),
            "the agents failed (the worker Job failed: ",  # engine.step_verdict's, as pjob run says it
        ),
        (
            job(succeeded=2, condition="Complete"),
            "every agent exited but not every mini-batch is final (7 of 10 final); see logs/sys/node/*/agent.txt",
        ),
    ],
    ids=["worker Job failed", "worker Job complete, queue not final"],
)
def test_worker_job_verdicts_say_what_pjob_run_says(worker_job, message):
    d = rec.reconcile(
        obs(running(), existing=ALL, worker_job=worker_job, counters=progress(pending=3, done=7, last=NOW))
    )
    verdict = d.status["verdict"]
    assert (verdict["state"], verdict["rule"]) == ("Failed", policy.SYSTEM_ERROR)
    assert verdict["message"].startswith(message), verdict["message"]
