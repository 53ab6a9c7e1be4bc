"""A real `pjob agent` stops on SIGTERM while it waits for node 0's plan
(exit 143, nothing claimed), even when it starts with SIGTERM ignored: that
is what a pod's PID 1 amounts to (the kernel never applies the default
action to PID 1), so before the handler was installed at process start a
deleted, failed or preempted pod waited for SIGKILL. Uses only the fixture
surface (``kube_api``: apply/get/wait_for; start_process)."""

from __future__ import annotations

import signal
import subprocess
import sys

from operator_support import publish_agent_task
from pjob.coord import kube as coord_kube

JOB = "sigterm-wait"
# exec pjob with SIGTERM ignored, as PID 1 without a handler would treat it
AS_PID_1 = (
    "import os, signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, '-m', 'pjob.cli', *sys.argv[1:]])"
)


def test_agent_waiting_for_the_plan_stops_on_sigterm(kube_api, start_process, tmp_path):
    NS = kube_api.namespace
    _, run = publish_agent_task(kube_api, tmp_path, JOB, {"a.txt": "a\n"})
    kube_api.apply(coord_kube.queue_configmap(NS, JOB, None, 3))  # no plan: node 0 never publishes one
    agent = start_process(
        [
            sys.executable,
            "-c",
            AS_PID_1,
            "agent",
            "--coordinator",
            f"kube://{NS}/{JOB}",
            "--task",
            f"configmap:{JOB}-task",
            "--node",
            "1",
            "--agent-id",
            "node-1",
        ],
        name="agent",
    )
    # task.json in the work folder is written after the handler is installed, just before the wait
    kube_api.wait_for(
        lambda: (run / "work" / "task.json").exists() or agent.popen.poll() is not None,
        timeout=60,
        message=f"the agent to start; log:\n{agent.log()}",
    )
    assert agent.popen.poll() is None, agent.log()
    agent.popen.send_signal(signal.SIGTERM)
    try:
        code = agent.popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        code = None
    assert code == 143, f"SIGTERM while waiting for the plan: exit {code}; log:\n{agent.log()}"
    queue = kube_api.get("v1", "configmaps", f"{JOB}-queue", NS)
    assert queue is not None and coord_kube.kube_state.QueueState.decode(queue["data"]).leased == {}


RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def test_an_agent_pod_waiting_for_the_plan_stops_in_seconds_when_deleted(kube_api, kubelet, tmp_path):
    """The same in a real pod: the stand-in kubelet runs the agent as PID 1 of its own PID namespace,
    with the worker Role the operator would give it. Deleting the pod (grace period 60 s) must stop it
    in seconds with 143, not wait out the grace period for SIGKILL (137)."""
    from operator_support import TEST_IMAGE
    from pjob.kube import builders
    from pjob.kube import constants as c

    NS, root = kube_api.namespace, tmp_path / "ds"
    kube_api.bind_claim("pjob-datastore", root)
    _, run = publish_agent_task(kube_api, root, JOB, {"a.txt": "a\n"})
    kube_api.apply(coord_kube.queue_configmap(NS, JOB, None, 3))  # no plan: node 0 never publishes one
    owner = {
        "apiVersion": c.API_VERSION,
        "kind": c.PARALLEL_KIND,
        "metadata": {"name": JOB, "namespace": NS, "uid": "-"},
    }
    account = c.worker_account_name(JOB)
    kube_api.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}})
    for obj in (builders.build_worker_role(owner), builders.build_worker_rolebinding(owner)):
        obj["metadata"].pop("ownerReferences", None)  # no such CR here: the test owns them
        kube_api.apply(obj)
    kube_api.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "agent-1"},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": account,
                "terminationGracePeriodSeconds": 60,
                "containers": [
                    {
                        "name": "agent",
                        "image": TEST_IMAGE,
                        "securityContext": RESTRICTED,
                        "args": [
                            "agent",
                            "--coordinator",
                            f"kube://{NS}/{JOB}",
                            "--task",
                            f"configmap:{JOB}-task",
                            "--node",
                            "1",
                            "--agent-id",
                            "node-1",
                        ],
                        "env": [{"name": "HOME", "value": str(tmp_path)}],
                        "volumeMounts": [{"name": "ds", "mountPath": str(root)}],
                    }
                ],
                "volumes": [{"name": "ds", "persistentVolumeClaim": {"claimName": "pjob-datastore"}}],
            },
        }
    )
    kube_api.wait_for(
        lambda: (run / "work" / "task.json").exists(), timeout=60, message="the agent pod to start waiting for the plan"
    )
    container = kubelet.pod_process(NS, "agent-1")
    assert container is not None and container.alive
    kube_api.admin.delete("v1", "pods", "agent-1", NS)  # the pod's own grace period: 60 s
    kube_api.wait_for(
        lambda: not container.alive,
        timeout=20,
        message=f"the agent (PID 1 of its pod) to stop on SIGTERM; log:\n{container.log_path.read_text()}",
    )
    assert container.exit_code == 143
    queue = kube_api.get("v1", "configmaps", f"{JOB}-queue")
    assert coord_kube.kube_state.QueueState.decode(queue["data"]).leased == {}
