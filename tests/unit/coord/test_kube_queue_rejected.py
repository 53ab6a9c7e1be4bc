"""A queue ConfigMap the API server refuses for good (422 past 1 MiB, 403,
...) is a job failure with the reason, never a crash loop: the coordinator
raises ``QueueRejected`` naming the object and the fix, ``pjob agent`` exits
3 (the Job's podFailurePolicy FailJob) with the reason in the fatal record,
and the operator's finalisation reports reason QueueRejected. Over the real
API server (tests/cluster) with the refusal injected at the client."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from folder_task import folder_task
from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_errors
from pjob.coord import kube
from pjob.engine import policy, report
from pjob.engine.task import ParallelTask
from pjob.kube import agent_cmd, finalise_pod, kubeio, reconcile
from pjob.kube import constants as c

NS, JOB = "default", "score"
TOO_LONG = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "reason": "RequestEntityTooLarge",
    "code": 422,
    "message": 'ConfigMap "score-queue" is invalid: []: Too long: must have at most 1048576 bytes',
}


def refusal(status: int, body: dict):
    def raise_it(*args, **kwargs):
        exc = k8s_errors.ApiException(status=status, reason="Unprocessable Entity")
        exc.body = json.dumps(body)
        raise exc

    return raise_it


def test_a_422_on_the_queue_write_is_queue_rejected_naming_the_object_and_the_fix(api, monkeypatch):
    coordinator = kube.KubeCoordinator(api, NS, JOB, 100)
    monkeypatch.setattr(coordinator.core, "replace_namespaced_config_map", refusal(422, TOO_LONG))
    with pytest.raises(kube.QueueRejected) as caught:
        coordinator.claim("a", 1)
    text = str(caught.value)
    assert caught.value.status == 422 and caught.value.reason == "RequestEntityTooLarge"
    assert f"ConfigMap {NS}/{JOB}-queue" in text and "Too long: must have at most 1048576 bytes" in text
    assert "mini_batch_size" in text  # the fix
    coordinator.close()  # closing after a refusal logs, never raises


def test_a_403_is_final_too_but_a_409_is_retried(api, monkeypatch):
    coordinator = kube.KubeCoordinator(api, NS, JOB, 10)
    forbidden = {"kind": "Status", "reason": "Forbidden", "code": 403, "message": "configmaps is forbidden"}
    real = coordinator.core.replace_namespaced_config_map
    calls = []

    def conflict_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            refusal(409, {"reason": "Conflict", "code": 409, "message": "the object has been modified"})()
        return real(*args, **kwargs)

    monkeypatch.setattr(coordinator.core, "replace_namespaced_config_map", conflict_once)
    assert [lease.index for lease in coordinator.claim("a", 1)] == [0]
    monkeypatch.setattr(coordinator.core, "replace_namespaced_config_map", refusal(403, forbidden))
    with pytest.raises(kube.QueueRejected, match="HTTP 403 Forbidden"):
        coordinator.claim("b", 5)


def _task(tmp_path) -> ParallelTask:
    return folder_task(tmp_path, {f"d{i}.txt": "x\n" for i in range(4)})


def test_pjob_agent_exits_3_with_the_reason_when_the_queue_is_refused(server, api, tmp_path, monkeypatch):
    task = _task(tmp_path)
    server.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "score-task", "namespace": NS},
            "data": {"task.json": task.to_json()},
        }
    )
    monkeypatch.setattr(kubeio, "load_client", lambda *a, **k: api)
    monkeypatch.setattr(k8s.CoreV1Api, "replace_namespaced_config_map", refusal(422, TOO_LONG))
    args = argparse.Namespace(
        coordinator=f"kube://{NS}/{JOB}", task="configmap:score-task", node=0, agent_id="pod-0", command_step=None
    )
    assert agent_cmd.run_agent(args) == 3  # the Job's podFailurePolicy FailJob: no crash loop
    fatal = report.read_fatal(task.work_dir)
    assert fatal.startswith(finalise_pod.QUEUE_REJECTED_PREFIX) and "1048576" in fatal


def test_the_operator_reports_reason_queue_rejected_in_the_condition_and_job_result(tmp_path):
    task = _task(tmp_path)
    text = "the API server refused to update ConfigMap jobs/score-queue, the queue of job score (HTTP 422 ...)\n"
    report.write_fatal(task.work_dir, "1", text)
    workers_failed = policy.Verdict(policy.FAILED, policy.SYSTEM_ERROR, "the worker Job failed (PodFailurePolicy)")
    verdict, counters = finalise_pod.finalise_unplanned(task, workers_failed)
    assert verdict.rule == finalise_pod.QUEUE_REJECTED and verdict.message == text.strip()
    body = {"metadata": {"name": "score", "namespace": NS, "generation": 1}, "status": {}}
    done = reconcile.finished(body, {}, verdict, counters, 1_800_000_000.0)
    failed = next(x for x in done.status["conditions"] if x["type"] == c.FAILED)
    assert (failed["status"], failed["reason"], failed["message"]) == (c.TRUE, "QueueRejected", text.strip())
    assert [(e.type, e.reason) for e in done.events] == [(c.EVENT_WARNING, "QueueRejected")]
    job_result = (Path(task.logs_dir) / "job_result.txt").read_text()
    assert "refused to update ConfigMap jobs/score-queue" in job_result
