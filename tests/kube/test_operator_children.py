"""The real operator (`pjob operator run`, kopf) against the real API server:
validation, the children of a ParallelJob, idempotence across an operator
restart, and garbage collection when the CR is deleted. No kubelet here (the
worker pods are not run; see test_operator_run.py for that), except for a
missing entry script, which only the pods can see."""

from __future__ import annotations

import kubernetes.client as k8s
from operator_support import (
    apply_cr,
    children,
    condition,
    copy_example,
    cr_for,
    free_port,
    get_cr,
    operator_env,
    prepare_cluster,
    start_operator,
    wait_operator_watching,
    wait_status,
)


def test_semantically_bad_paralleljob_is_rejected_with_a_warning_event(
    kube_api, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    apply_crds()
    root = tmp_path / "ds"
    example = copy_example("file-processing", root)
    operator = start_operator(start_process, operator_env(kube_env, root))
    wait_operator_watching(wait_for_request)
    cr = cr_for(example / "pipeline.yml", name="bad-binding")
    # file-processing is a one-step pipeline; submit its parallel step as a ParallelJob with a typo
    step = cr["spec"]["jobs"]["count_words"]
    pj = {
        "apiVersion": "pjob.dev/v1alpha1",
        "kind": "ParallelJob",
        "metadata": {"name": "bad-binding", "namespace": "default", "annotations": cr["metadata"]["annotations"]},
        "spec": {**step, "input_data": "${{inputs.documents}}"},
    }
    apply_cr(kube_api, pj)
    status = wait_status(
        kube_api, "paralleljobs", "bad-binding", lambda s: condition(s, "SpecValid") is not None, operator
    )
    valid = condition(status, "SpecValid")
    assert valid["status"] == "False" and valid["reason"] == "SpecInvalid"
    assert "input_data" in valid["message"] and "documents" in valid["message"]
    assert condition(status, "Failed")["status"] == "True"
    assert status["state"] == "Failed"
    event = kube_api.wait_for(
        lambda: next(
            (
                e
                for e in kube_api.list("v1", "events", "default")
                if e["reason"] == "SpecInvalid" and e["type"] == "Warning"
            ),
            None,
        ),
        timeout=20,
        message="a Warning event",
    )
    assert event["involvedObject"]["name"] == "bad-binding" and "documents" in event["message"]
    obj = get_cr(kube_api, "paralleljobs", "bad-binding")
    assert children(kube_api, obj) == []
    assert kube_api.list("batch/v1", "jobs", "default") == [] and kube_api.list("v1", "pods", "default") == []


def test_missing_entry_script_fails_the_job_in_its_pods_not_in_the_operator(
    kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    """The operator has no datastore, so it cannot see that a script is missing (`pjob submit`
    checks that before shipping): the spec is valid, the pods find out, the job fails saying why."""
    root, env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path)
    example = copy_example("file-processing", root)
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)
    cr = cr_for_parallel(example, "no-script")
    (example / "code" / "count_words.py").unlink()
    apply_cr(kube_api, cr)
    status = wait_status(
        kube_api, "paralleljobs", "no-script", lambda s: s.get("state") in ("Succeeded", "Failed"), operator, 180
    )
    assert condition(status, "SpecValid")["status"] == "True"
    assert status["state"] == "Failed", status
    result = (root / "runs" / "default" / "no-script" / "steps" / "no-script" / "logs" / "job_result.txt").read_text()
    assert "count_words" in result, result


def _get(url: str) -> int | None:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return None


def cr_for_parallel(example, name):
    """The example's parallel step as a ParallelJob CR (paths relative to its shipped folder)."""
    script = example / "code" / "count_words.py"
    existed = script.exists()
    if not existed:  # cr_for checks files locally; the operator must find the problem itself
        script.write_text("def run(mb):\n    return mb\n")
    cr = cr_for(example / "pipeline.yml", name=name)
    step = cr["spec"]["jobs"]["count_words"]
    return {
        "apiVersion": "pjob.dev/v1alpha1",
        "kind": "ParallelJob",
        "metadata": {"name": name, "namespace": "default", "annotations": cr["metadata"]["annotations"]},
        "spec": step,
    }


def test_good_paralleljob_gets_its_children_once_even_across_an_operator_restart(
    kube_api, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    apply_crds()
    root = tmp_path / "ds"
    example = copy_example("file-processing", root)
    env = operator_env(kube_env, root)
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)
    apply_cr(kube_api, cr_for_parallel(example, "words"))
    status = wait_status(kube_api, "paralleljobs", "words", lambda s: condition(s, "Running") is not None, operator)
    assert condition(status, "SpecValid")["status"] == "True"
    assert condition(status, "Running")["reason"] == "WorkersStarted"
    assert status["startTime"] and status["observedGeneration"] == 1
    cr = get_cr(kube_api, "paralleljobs", "words")
    owned = children(kube_api, cr)
    kinds = sorted(o["kind"] for o in owned)
    assert kinds == ["ConfigMap", "ConfigMap", "Job", "Role", "RoleBinding", "ServiceAccount"]
    (job,) = [o for o in owned if o["kind"] == "Job"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 1
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "words-worker"

    operator.stop()
    kube_api.clear_requests()
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)
    # the restarted operator reconciles the job again (reads it) and creates nothing
    wait_for_request(
        lambda r: r.resource == "jobs" and r.verb == "get" and "pjob-operator" in r.user_agent,
        timeout=30,
        message="the restarted operator to look at the worker Job",
    )
    assert [r for r in kube_api.writes() if r.verb == "create" and r.resource != "events"] == []
    assert len(kube_api.list("batch/v1", "jobs", "default")) == 1
    assert "Traceback" not in operator.log(), operator.log()


def test_deleting_the_paralleljob_garbage_collects_its_children(
    kube_api, apply_crds, start_process, kube_env, wait_for_request, kube_client, tmp_path
):
    """Also: the namespaced mode and kopf's liveness endpoint the chart probes."""
    apply_crds()
    root = tmp_path / "ds"
    example = copy_example("file-processing", root)
    port = free_port()
    operator = start_operator(
        start_process,
        operator_env(kube_env, root),
        "--namespace",
        "default",
        f"--liveness=http://127.0.0.1:{port}/healthz",
    )
    wait_operator_watching(wait_for_request)
    assert all(r.namespace == "default" for r in kube_api.requests if r.verb == "watch" and r.group == "pjob.dev")
    health = kube_api.wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz"), timeout=20, message="/healthz")
    assert health == 200
    apply_cr(kube_api, cr_for_parallel(example, "doomed"))
    wait_status(kube_api, "paralleljobs", "doomed", lambda s: condition(s, "Running") is not None, operator)
    cr = get_cr(kube_api, "paralleljobs", "doomed")
    assert len(children(kube_api, cr)) == 6
    k8s.CustomObjectsApi(kube_client).delete_namespaced_custom_object(
        "pjob.dev", "v1alpha1", "default", "paralleljobs", "doomed"
    )
    kube_api.wait_for(
        lambda: get_cr(kube_api, "paralleljobs", "doomed") is None and not children(kube_api, cr),
        timeout=20,
        message="the CR and its children to be gone",
    )
    assert kube_api.list("batch/v1", "jobs", "default") == []


def test_output_on_an_object_store_datastore_is_rejected(
    kube_api, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    import json

    apply_crds()
    root = tmp_path / "ds"
    example = copy_example("file-processing", root)
    config = tmp_path / "operator-config.json"
    config.write_text(
        json.dumps(
            {
                "datastores": {
                    "default": "default",
                    "items": {
                        "default": {"type": "pvc", "claimName": "pjob-datastore", "mountPath": str(root)},
                        "blob": {"type": "objectStore", "url": "s3://bucket/pjob"},
                    },
                }
            }
        )
    )
    operator = start_operator(start_process, operator_env(kube_env, root, PJOB_CONFIG_FILE=config))
    wait_operator_watching(wait_for_request)
    cr = cr_for_parallel(example, "to-bucket")
    cr["spec"]["outputs"]["counts"]["path"] = "azureml://datastores/blob/paths/counts"
    apply_cr(kube_api, cr)
    status = wait_status(
        kube_api, "paralleljobs", "to-bucket", lambda s: condition(s, "SpecValid") is not None, operator
    )
    valid = condition(status, "SpecValid")
    assert valid["status"] == "False" and "s3://bucket/pjob/counts is an object store" in valid["message"]
    assert kube_api.list("batch/v1", "jobs", "default") == []
