"""The real operator on jobs whose workers cannot start, through the tier's
fixture surface only (the API fixture's apply/get/list/wait_for,
start_process, operator_support helpers):

- a CR name over 63 characters: SpecValid=False with the limit and the fix,
  nothing created, a Warning event (no endless create retries);
- the datastore claim the workers mount missing in the job's namespace
  (cluster-wide mode, the operator elsewhere): no worker Job, WorkersPending
  reason ClaimNotFound, a Warning event; the Job appears once the claim exists;
- workers that never run: Failed with reason FirstTaskCreationTimeout after
  --first_task_creation_timeout, the reason in job_result.txt.
"""

from __future__ import annotations

import json

from operator_support import (
    apply_cr,
    condition,
    copy_example,
    cr_for,
    get_cr,
    operator_env,
    start_operator,
    wait_operator_watching,
    wait_status,
    write_operator_config,
)


def _parallel_cr(root, name: str, namespace: str, program_arguments: str | None = None) -> dict:
    example = copy_example("file-processing", root)
    cr = cr_for(example / "pipeline.yml", name="x", namespace=namespace)
    step = dict(cr["spec"]["jobs"]["count_words"])
    if program_arguments:
        step["task"] = {**step["task"], "program_arguments": program_arguments}
    return {
        "apiVersion": "pjob.dev/v1alpha1",
        "kind": "ParallelJob",
        "metadata": {"name": name, "namespace": namespace, "annotations": cr["metadata"]["annotations"]},
        "spec": step,
    }


def _warning(kube_api, namespace: str, reason: str, name: str) -> dict:
    return kube_api.wait_for(
        lambda: next(
            (
                e
                for e in kube_api.list("v1", "events", namespace)
                if e.get("reason") == reason
                and e.get("type") == "Warning"
                and (e.get("involvedObject") or {}).get("name") == name
            ),
            None,
        ),
        timeout=30,
        message=f"a Warning event {reason} for {name}",
    )


def test_a_name_too_long_for_labels_is_spec_invalid_and_creates_nothing(
    kube_api, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    apply_crds()
    ns, root = kube_api.namespace, tmp_path / "ds"
    name = "a-job-name-that-is-much-too-long-to-be-the-value-of-a-kubernetes-label"  # 70 characters
    operator = start_operator(start_process, operator_env(kube_env, root))
    wait_operator_watching(wait_for_request)
    apply_cr(kube_api, _parallel_cr(root, name, ns))
    status = wait_status(
        kube_api, "paralleljobs", name, lambda s: condition(s, "SpecValid") is not None, operator, namespace=ns
    )
    valid = condition(status, "SpecValid")
    assert (valid["status"], valid["reason"]) == ("False", "SpecInvalid")
    assert "has 70 characters, more than 63" in valid["message"] and "shorter name" in valid["message"]
    assert condition(status, "Failed")["status"] == "True"
    assert "more than 63" in _warning(kube_api, ns, "SpecInvalid", name)["message"]
    assert kube_api.list("batch/v1", "jobs", ns) == []
    assert [
        cm["metadata"]["name"]
        for cm in kube_api.list("v1", "configmaps", ns)
        if cm["metadata"]["name"].startswith(name)
    ] == []


def test_a_datastore_claim_missing_in_the_jobs_namespace_holds_the_workers_back(
    kube_api, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    apply_crds()
    ns, root = kube_api.namespace, tmp_path / "ds"
    root.mkdir()
    config_path = write_operator_config(root, tmp_path / "operator-config.json")
    config = json.loads(config_path.read_text())
    claim = "pjob-datastore-not-here"
    for volume in config["worker"]["volumes"]:
        if "persistentVolumeClaim" in volume:
            volume["persistentVolumeClaim"]["claimName"] = claim
    config_path.write_text(json.dumps(config))
    # cluster-wide mode with the operator in another namespace than the job's
    env = operator_env(kube_env, root, PJOB_CONFIG_FILE=config_path, PJOB_OPERATOR_NAMESPACE=f"{ns}-operator")
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)
    apply_cr(kube_api, _parallel_cr(root, "claimless", ns))
    status = wait_status(
        kube_api,
        "paralleljobs",
        "claimless",
        lambda s: condition(s, "WorkersPending") is not None,
        operator,
        namespace=ns,
    )
    pending = condition(status, "WorkersPending")
    assert (pending["status"], pending["reason"]) == ("True", "ClaimNotFound")
    assert pending["message"].startswith(f"PersistentVolumeClaim {claim} not found in namespace {ns}:")
    assert f"or submit the job in namespace {ns}-operator" in pending["message"]
    assert claim in _warning(kube_api, ns, "ClaimNotFound", "claimless")["message"]
    assert kube_api.get("batch/v1", "jobs", "claimless-workers", ns) is None
    kube_api.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": ns},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
        }
    )
    kube_api.wait_for(
        lambda: kube_api.get("batch/v1", "jobs", "claimless-workers", ns),
        timeout=60,
        message=f"the worker Job once the claim exists; operator log:\n{operator.log()[-3000:]}",
    )


def test_workers_that_never_run_fail_the_job_after_the_first_task_creation_timeout(
    kube_api, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    apply_crds()
    ns, root = kube_api.namespace, tmp_path / "ds"
    root.mkdir()
    # an image no node has: the pods never run (on a cluster without a kubelet they never exist)
    config_path = write_operator_config(root, tmp_path / "operator-config.json", image="pjob-test:no-such-image")
    operator = start_operator(start_process, operator_env(kube_env, root, PJOB_CONFIG_FILE=config_path))
    wait_operator_watching(wait_for_request)
    apply_cr(kube_api, _parallel_cr(root, "never-runs", ns, program_arguments="--first_task_creation_timeout 5"))
    status = wait_status(
        kube_api,
        "paralleljobs",
        "never-runs",
        lambda s: s.get("state") == "Failed",
        operator,
        timeout=120,
        namespace=ns,
    )
    failed = condition(status, "Failed")
    assert failed["reason"] == "FirstTaskCreationTimeout", failed
    assert "--first_task_creation_timeout = 5s" in failed["message"]
    assert _warning(kube_api, ns, "FirstTaskCreationTimeout", "never-runs")
    # no pod can run this image, the finaliser's neither: the operator (which has no datastore) ends the
    # job saying job_result.txt could not be written, instead of waiting for a finaliser that cannot start
    assert "job_result.txt was not written: the finaliser pod cannot start" in failed["message"]
    assert sorted((root / "runs" / ns / "never-runs").glob("steps/*/logs/job_result.txt")) == []
    assert get_cr(kube_api, "paralleljobs", "never-runs", ns)["status"]["state"] == "Failed"
