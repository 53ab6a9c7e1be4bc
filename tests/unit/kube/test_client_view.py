"""pjob.kube.client_view: the text of `pjob status`, where `pjob logs` finds
a job's logs, and one mini-batch's records from a log tree written by the
engine's own report writer."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from pjob.engine import logtree, report
from pjob.kube import client_view
from pjob.spec import errors

PIPELINE = {
    "apiVersion": "pjob.dev/v1alpha1",
    "kind": "PipelineJob",
    "metadata": {"name": "pl", "namespace": "ns1"},
    "spec": {"type": "pipeline", "jobs": {"prep": {"type": "command"}, "score": {"type": "parallel"}}},
    "status": {
        "state": "Failed",
        "progress": "1/2",
        "startTime": "2026-01-01T00:00:00Z",
        "conditions": [
            {"type": "SpecValid", "status": "True", "reason": "SpecValid", "message": "the spec passed every check"},
            {"type": "Failed", "status": "True", "reason": "StepFailed", "message": "step score failed: boom"},
        ],
        "steps": {
            "prep": {"state": "Succeeded", "kind": "command", "child": "pl-prep"},
            "score": {"state": "Failed", "kind": "parallel", "child": "pl-score", "message": "boom"},
        },
    },
}


def test_status_text_has_state_conditions_steps_and_events():
    child = {"status": {"miniBatches": {"total": 8, "done": 5, "failed": 3}, "items": {"succeeded": 50, "failed": 3}}}
    events = [
        {
            "type": "Warning",
            "reason": "StepFailed",
            "message": "step score\nfailed",
            "lastTimestamp": "2026-01-01T00:01:00Z",
        }
    ]
    text = client_view.format_status(PIPELINE, {"score": child}, events)
    assert text.startswith("PipelineJob ns1/pl\nState:     Failed\nProgress:  1/2\n")
    assert "  Failed     True    StepFailed  step score failed: boom" in text
    assert (
        "  score  parallel  Failed     pl-score  5/8 mini-batches done, 3 failed; items 50 succeeded, 3 failed  boom"
        in text
    )
    assert "  prep   command   Succeeded  pl-prep   -" in text
    assert "2026-01-01T00:01:00Z  Warning  StepFailed  step score failed" in text


def test_state_without_a_state_field_comes_from_conditions():
    obj = {"status": {"conditions": [{"type": "Running", "status": "True"}]}}
    assert client_view.state_of(obj) == "Running" and not client_view.terminal(obj)
    assert client_view.state_of({}) == "Pending"
    assert client_view.terminal({"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}})


def test_logs_dirs_of_a_pipeline_and_a_parallel_job():
    assert client_view.logs_dirs(PIPELINE, None) == [
        ("prep", "runs/ns1/pl/steps/prep/logs"),
        ("score", "runs/ns1/pl/steps/score/logs"),
    ]
    assert client_view.logs_dirs(PIPELINE, "score") == [("score", "runs/ns1/pl/steps/score/logs")]
    with pytest.raises(errors.UserError, match="no step 'x'"):
        client_view.logs_dirs(PIPELINE, "x")
    pj = {
        "kind": "ParallelJob",
        "metadata": {"name": "w", "namespace": "ns1"},
        "spec": {"name": "words"},
        "status": {"logs": "/mnt/pjob/runs/ns1/w/steps/words/logs"},
    }
    assert client_view.logs_dirs(pj, None) == [("words", "/mnt/pjob/runs/ns1/w/steps/words/logs")]


def test_pod_paths_map_onto_the_local_datastore_root(tmp_path):
    assert client_view.local_path("/mnt/pjob/runs/ns1/w/steps/s/logs", "ns1", str(tmp_path)) == os.path.join(
        str(tmp_path), "runs", "ns1", "w", "steps", "s", "logs"
    )
    assert client_view.local_path("runs/ns1/w/logs", "ns1", str(tmp_path)) == os.path.join(
        str(tmp_path), "runs", "ns1", "w", "logs"
    )
    assert client_view.local_path(str(tmp_path), "ns1", None) == str(tmp_path)  # the same path here and in pods
    assert client_view.local_path("/mnt/nowhere/runs/ns1/x", "ns1", None) is None


def test_one_mini_batch_record_from_the_engines_report(tmp_path):
    logs = tmp_path / "steps" / "s" / "logs"
    task = SimpleNamespace(logs_dir=str(logs), work_dir=str(tmp_path / "steps" / "s" / "work"))
    writer = report.AgentReport(task, "1")
    for index, attempt, status, error in (
        (3, 1, "RUN_EXCEPTION", "ValueError: bad row"),
        (4, 1, "RUN_DONE", None),
        (3, 2, "RUN_DONE", None),
    ):
        writer.attempt(
            SimpleNamespace(index=index, attempt=attempt),
            "process000",
            status,
            0.0,
            2,
            2 if not error else 0,
            0 if not error else 2,
            0.1,
            0.1,
            error,
        )
    writer.close()
    with open(logtree.LogTree(str(logs)).user_error("1", "process000"), "w", encoding="utf-8") as fh:
        fh.write(
            "2026-01-01 00:00:00 mini-batch 3 attempt 1: RUN_EXCEPTION\nTraceback (most recent call last):\n"
            "ValueError: bad row\n2026-01-01 00:00:01 mini-batch 4 attempt 1: RUN_EXCEPTION\nother\n"
        )
    # before finalisation: rows come from the agents' report fragments in work/report
    text = client_view.mini_batch_log(str(logs), 3)
    assert "== node 1 process000" in text
    assert "attempt 1: RUN_EXCEPTION 0/2 items" in text and "ValueError: bad row" in text
    assert "attempt 2: RUN_DONE 2/2 items" in text
    assert "Traceback (most recent call last):" in text and "mini-batch 4" not in text and "other" not in text
    assert client_view.mini_batch_log(str(logs), 99) is None
