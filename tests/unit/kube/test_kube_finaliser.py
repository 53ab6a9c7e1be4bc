"""The finaliser Job (pjob.kube.finaliser_job, operations.Finaliser, finalise_cmd's
engine calls): the operator creates the Job once (the verdict in its args), waits for the
result ConfigMap the finaliser creates last, then marks the job terminal; a finaliser that
fails or cannot start ends the job saying so; the Job is built like the worker Job;
finalising a run folder again rewrites the same bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pjob.engine import policy
from pjob.engine.task import ParallelTask
from pjob.kube import builders, finaliser_job, jobspec, operations, unpack_cmd
from pjob.kube import constants as c
from pjob.kube.config import OperatorConfig
from pjob.queue.protocol import Progress
from test_kube_handlers import NOW, FakeQueue, MemoryKube, apply, body_for, make_memo, progress, tick

REPO = Path(__file__).resolve().parents[3]


def _finished_workers(kube: MemoryKube) -> None:
    kube.objects[("Job", "ns", "pj-workers")]["status"] = {
        "succeeded": 2,
        "conditions": [{"type": "Complete", "status": "True"}],
    }


def _to_verdict(project, kube: MemoryKube):
    queue = FakeQueue(progress(total=4, done=4, items_ok=4, last=NOW))
    memo = make_memo(kube, [], queue=queue)
    memo.finaliser = operations.Finaliser(kube, memo.config)
    body = apply(body_for(project), tick(body_for(project), memo))
    _finished_workers(kube)
    return memo, body


def test_the_operator_creates_the_finaliser_once_and_is_terminal_only_after_its_result(project):
    kube = MemoryKube()
    memo, body = _to_verdict(project, kube)
    body = apply(body, tick(body, memo))
    name = finaliser_job.name_of("pj")
    job = kube.objects[("Job", "ns", name)]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    verdict, _ = finaliser_job.decode_verdict(args[args.index("--verdict") + 1])
    assert verdict.state == policy.SUCCEEDED  # the verdict travels in the Job's args
    assert ("ConfigMap", "ns", name) not in kube.objects  # the finaliser writes it, last
    for _ in range(2):  # running: nothing new, not terminal
        body = apply(body, tick(body, memo))
        assert body["status"]["state"] not in ("Succeeded", "Failed")
    assert kube.creates().count("Job") == 2  # the workers' and the finaliser's, each once
    # the finaliser creates its result (the verdict the data explains) as its last step
    final = policy.Verdict(policy.FAILED, policy.NO_SUCCESSES, "no item succeeded")
    owner = json.loads(args[args.index("--owner") + 1])
    assert owner == {"apiVersion": c.API_VERSION, "kind": c.PARALLEL_KIND, "name": "pj", "uid": "u-1"}
    text = finaliser_job.encode_result(final, Progress(total=4, done=4))
    kube.create(finaliser_job.build_result_configmap(owner, "ns", "pj", text))
    body = apply(body, tick(body, memo))
    status = body["status"]
    assert status["state"] == "Failed" and status["miniBatches"] == {"total": 4, "done": 4, "failed": 0}
    failed = next(x for x in status["conditions"] if x["type"] == c.FAILED)
    assert failed["message"] == "no item succeeded"


def test_a_finaliser_job_that_fails_without_a_result_fails_the_job(project):
    kube = MemoryKube()
    memo, body = _to_verdict(project, kube)
    body = apply(body, tick(body, memo))
    name = finaliser_job.name_of("pj")
    kube.objects[("Job", "ns", name)]["status"] = {
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    }
    body = apply(body, tick(body, memo))
    failed = next(x for x in body["status"]["conditions"] if x["type"] == c.FAILED)
    assert body["status"]["state"] == "Failed" and "finalisation failed (BackoffLimitExceeded)" in failed["message"]


def test_the_finaliser_job_is_built_like_the_worker_job(project):
    config = OperatorConfig(datastore_root="/mnt/pjob")
    body = body_for(project)
    shipped = [{"configMap": "pj-ship-0-abc", "into": "runs/ns/pj/shipped", "sha256": "00"}]
    body["metadata"]["annotations"][unpack_cmd.ANNOTATION_SHIPPED] = json.dumps(shipped)
    loaded = jobspec.load_cr(body, config)
    task = jobspec.parallel_task(body, loaded, config)
    workers = builders.build_worker_job(body, task, config)["spec"]["template"]["spec"]
    job = finaliser_job.build_finaliser_job(body, task, config, policy.Verdict(policy.SUCCEEDED), None)
    pod = job["spec"]["template"]["spec"]
    assert job["metadata"]["name"] == "pj-finalise" and job["spec"]["completions"] == 1
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert job["spec"]["template"]["metadata"]["labels"][c.LABEL_ROLE] == finaliser_job.ROLE_FINALISER
    for key in ("serviceAccountName", "securityContext", "volumes", "initContainers"):
        assert pod[key] == workers[key], key
    (main,) = pod["containers"]
    (agent,) = workers["containers"]
    for key in ("image", "env", "volumeMounts", "securityContext", "workingDir"):
        assert main[key] == agent[key], key
    assert main["args"][:2] == ["finalise", "--coordinator"] and "configmap:pj-finalise" in main["args"]
    assert pod["serviceAccountName"] == c.worker_account_name("pj")
    # the shipped code is unpacked by an init container (the operator never touches the datastore)
    (init,) = pod["initContainers"]
    assert init["name"] == unpack_cmd.CONTAINER and init["args"][0] == "unpack"
    assert json.loads(init["args"][init["args"].index("--shipped") + 1]) == shipped
    assert {"name": "pjob-shipped-0", "mountPath": f"{unpack_cmd.MOUNT_ROOT}/0", "readOnly": True} in init[
        "volumeMounts"
    ]
    assert {
        "name": "pjob-shipped-0",
        "configMap": {"name": "pj-ship-0-abc", "items": [{"key": "bundle.tar.gz", "path": "bundle.tar.gz"}]},
    } in pod["volumes"]


def test_finalising_a_run_folder_again_rewrites_the_same_bytes(tmp_path):
    """What a re-created finaliser does (pjob finalise: remove_staged, then finalise) neither
    doubles nor loses output: the merged file, report and failed list are byte-identical."""
    from pjob.coord.sqlite import SqliteCoordinator
    from pjob.engine import finalise, logtree
    from pjob.kube import finalise_pod

    done = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "run", str(REPO / "examples/file-processing/pipeline.yml")]
        + ["--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (work,) = tmp_path.glob("*/steps/*/work")
    task = ParallelTask.from_json((work / "task.json").read_text())
    logs = logtree.LogTree(task.logs_dir)
    files = [task.append_row_to, logs.job_report, logs.failed_mini_batches, logs.job_error]
    before = {f: Path(f).read_bytes() for f in files}
    assert before[task.append_row_to]
    (work / "staging").mkdir(exist_ok=True)
    Path(finalise.staging_dir(task), "leftover.merge.tmp").write_bytes(b"half")  # a killed finaliser's
    for _ in range(2):
        finalise.remove_staged(task)
        coordinator = SqliteCoordinator(work / "queue.db")
        try:
            verdict, counters = finalise_pod.finalise(task, coordinator, policy.Verdict(policy.SUCCEEDED))
        finally:
            coordinator.close()
        assert verdict.state == policy.SUCCEEDED and counters.done == counters.total
        assert {f: Path(f).read_bytes() for f in files} == before


def test_a_finaliser_pod_that_cannot_start_ends_the_job_saying_so(project):
    kube = MemoryKube()
    memo, body = _to_verdict(project, kube)
    memo.finaliser.config.stop_grace_seconds = 0.0
    body = apply(body, tick(body, memo))
    name = finaliser_job.name_of("pj")
    kube.objects[("Job", "ns", name)]["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    pod = {
        "kind": "Pod",
        "metadata": {"name": f"{name}-x", "namespace": "ns", "labels": {c.LABEL_JOB: "pj", c.LABEL_ROLE: "finaliser"}},
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"name": "finalise", "state": {"waiting": {"reason": "ImagePullBackOff"}}}],
        },
    }
    kube.create(pod)
    body = apply(body, tick(body, memo))
    failed = next(x for x in body["status"]["conditions"] if x["type"] == c.FAILED)
    assert body["status"]["state"] == "Failed" and failed["reason"] == "SystemError"  # outputs not merged
    assert "job_result.txt was not written: the finaliser pod cannot start" in failed["message"]
    assert "ImagePullBackOff" in failed["message"]
