"""What the API server itself refuses, and what pjob makes of it (tier
fixtures only: the API fixture's apply/get/client, start_process):

- a queue ConfigMap past the 1 MiB object limit (422 "Too long: must have at
  most 1048576 bytes"): a real `pjob agent` exits 3 (the worker Job's
  podFailurePolicy FailJob) with the reason and the fix in its fatal record,
  never a crash loop;
- a spec edited after creation: refused at admission by the CRD's CEL rule
  (``self == oldSelf`` on spec) with a message naming the kind and the fix.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_errors
from operator_support import apply_cr, copy_example, cr_for, publish_agent_task
from pjob.coord import kube as coord_kube
from pjob.engine import report

MAX_CONFIGMAP_BYTES = 1024 * 1024  # the API server's limit on a ConfigMap's data


def test_a_queue_past_one_mebibyte_fails_the_agent_with_the_reason_not_a_crash_loop(kube_api, start_process, tmp_path):
    ns, job = kube_api.namespace, "too-big"
    task, run = publish_agent_task(kube_api, tmp_path, job, {f"d{i}.txt": f"{i}\n" for i in range(4)})
    queue = coord_kube.queue_configmap(ns, job, None, 1 + max(0, task.max_retries))
    # exactly at the limit (the API server counts the values): publishing the plan is the write past it
    queue["data"]["padding"] = "x" * (MAX_CONFIGMAP_BYTES - sum(len(v) for v in queue["data"].values()))
    kube_api.apply(queue)
    agent = start_process(
        [
            sys.executable,
            "-m",
            "pjob.cli",
            "agent",
            "--coordinator",
            f"kube://{ns}/{job}",
            "--task",
            f"configmap:{job}-task",
            "--node",
            "0",
            "--agent-id",
            "node-0",
        ],
        name="agent",
    )
    try:
        code = agent.popen.wait(timeout=120)
    except subprocess.TimeoutExpired:
        code = None
    assert code == 3, f"exit {code}; log:\n{agent.log()}"
    fatal = report.read_fatal(task.work_dir) or ""
    assert fatal.startswith(f"the API server refused to update ConfigMap {ns}/{job}-queue"), fatal
    assert "HTTP 422" in fatal and "1048576" in fatal and "mini_batch_size" in fatal, fatal
    assert "total" not in kube_api.get("v1", "configmaps", f"{job}-queue", ns)["data"]


def test_editing_the_spec_of_a_job_is_refused_at_admission(kube_api, apply_crds, tmp_path):
    apply_crds()
    ns = kube_api.namespace
    example = copy_example("file-processing", tmp_path / "ds")
    cr = cr_for(example / "pipeline.yml", name="frozen", namespace=ns)
    step = cr["spec"]["jobs"]["count_words"]
    apply_cr(
        kube_api,
        {
            "apiVersion": "pjob.dev/v1alpha1",
            "kind": "ParallelJob",
            "metadata": {"name": "frozen", "namespace": ns, "annotations": cr["metadata"]["annotations"]},
            "spec": step,
        },
    )
    client = kube_api.client()
    try:
        objects = k8s.CustomObjectsApi(client)
        with pytest.raises(k8s_errors.ApiException) as refused:
            objects.patch_namespaced_custom_object(
                "pjob.dev", "v1alpha1", ns, "paralleljobs", "frozen", {"spec": {"mini_batch_size": "7"}}
            )
        assert refused.value.status == 422
        assert "spec is immutable" in refused.value.body and "delete the ParallelJob" in refused.value.body
        # the operator's own writes still go through: metadata and status
        objects.patch_namespaced_custom_object(
            "pjob.dev", "v1alpha1", ns, "paralleljobs", "frozen", {"metadata": {"annotations": {"pjob.dev/test": "ok"}}}
        )
        objects.patch_namespaced_custom_object_status(
            "pjob.dev", "v1alpha1", ns, "paralleljobs", "frozen", {"status": {"state": "Pending"}}
        )
    finally:
        client.close()
    assert kube_api.get("pjob.dev/v1alpha1", "paralleljobs", "frozen", ns)["spec"] == step
