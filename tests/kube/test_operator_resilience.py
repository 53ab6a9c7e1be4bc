"""A ParallelJob survives what clusters do: an agent killed with SIGKILL
(its mini-batches come back after its Lease expires), a pod deleted
gracefully (SIGTERM: mini-batches handed back, no retry burnt), an operator
restart mid-job, the finaliser's pod killed with SIGKILL (the Job replaces it
and the output is the same bytes); and deleting the CR mid-job removes
everything it owns."""

from __future__ import annotations

import signal
from pathlib import Path

import kubernetes.client as k8s
import pytest
from operator_support import (
    apply_cr,
    children,
    copy_example,
    cr_for,
    expected_counts,
    get_cr,
    prepare_cluster,
    start_operator,
    wait_operator_watching,
    wait_status,
    worker_pods,
    write_slow_yaml,
)


@pytest.fixture
def world(kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path):
    root, env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path)

    class World:
        def start_operator(self):
            self.operator = start_operator(start_process, env)
            wait_operator_watching(wait_for_request)
            return self.operator

    w = World()
    w.root, w.api, w.kubelet, w.env = root, kube_api, kubelet, env
    w.example = copy_example("file-processing", root)
    w.start_operator()
    return w


def done_count(w, name: str) -> int:
    status = (get_cr(w.api, "paralleljobs", name) or {}).get("status") or {}
    return (status.get("miniBatches") or {}).get("done", 0)


def wait_progress(w, name: str, at_least: int) -> None:
    w.api.wait_for(
        lambda: done_count(w, name) >= at_least,
        timeout=60,
        message=f"{name} to finish {at_least} mini-batches; log:\n{w.operator.log()[-3000:]}",
    )


def wait_terminal(w, name: str) -> dict:
    return wait_status(
        w.api, "paralleljobs", name, lambda s: s.get("state") in ("Succeeded", "Failed"), w.operator, timeout=120
    )


def output_of(status: dict) -> bytes:
    return (Path(status["outputs"]["counts"]) / "parallel_run_step.txt").read_bytes()


def test_kill_9_of_an_agent_mid_job_reclaims_its_mini_batches(world):
    apply_cr(world.api, cr_for(write_slow_yaml(world.example, seconds=0.25), name="slow"))
    wait_progress(world, "slow", 4)
    (victim,) = [
        p
        for p in worker_pods(world.api, "slow")
        if p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1"
    ]
    world.kubelet.kill_pod("default", victim["metadata"]["name"], signal.SIGKILL)
    status = wait_terminal(world, "slow")
    assert status["state"] == "Succeeded", status
    assert status["miniBatches"] == {"total": 40, "done": 40, "failed": 0}
    assert output_of(status) == expected_counts(world.example / "docs")  # exactly once, in order
    from pjob.coord import kube_state

    queue = kube_state.QueueState.decode(world.api.get("v1", "configmaps", "slow-queue", "default")["data"])
    assert queue.progress().attempts > 40, "the dead agent's leased mini-batches were started again"
    pods = worker_pods(world.api, "slow")
    assert len(pods) == 3  # the killed pod was replaced
    assert any(p["status"]["phase"] == "Failed" for p in pods)


def test_sigterm_hands_mini_batches_back_without_burning_retries(world):
    apply_cr(
        world.api,
        cr_for(
            write_slow_yaml(world.example, seconds=0.25, max_retries=0, extra="mini_batch_error_threshold: 0\n"),
            name="slow",
        ),
    )
    wait_progress(world, "slow", 4)
    victim = worker_pods(world.api, "slow")[0]["metadata"]["name"]
    agent = world.kubelet.pod_process("default", victim)
    # preemption: DisruptionTarget, then a graceful delete; the stand-in kubelet, like a container runtime,
    # sends SIGTERM to the container's main process (the agent) only, its worker processes are the agent's job
    world.kubelet.preempt_pod("default", victim)
    status = wait_terminal(world, "slow")
    assert status["state"] == "Succeeded", status  # with max_retries 0 a burnt attempt would fail the job
    assert status["miniBatches"]["failed"] == 0
    # the stopped agent exited 143 within the grace period (not SIGKILLed at its end: 137)
    assert agent.exit_code == 143
    pods = {p["metadata"]["name"]: p for p in worker_pods(world.api, "slow")}
    assert victim not in pods and len(pods) == 2  # the Job replaced the preempted pod
    assert output_of(status) == expected_counts(world.example / "docs")


def test_operator_restart_mid_job_keeps_one_job_and_completes(world):
    apply_cr(world.api, cr_for(write_slow_yaml(world.example, seconds=0.2), name="slow"))
    wait_progress(world, "slow", 3)
    world.operator.stop()
    world.start_operator()
    status = wait_terminal(world, "slow")
    assert status["state"] == "Succeeded", status
    jobs = sorted(j["metadata"]["name"] for j in world.api.list("batch/v1", "jobs", "default"))
    assert jobs == ["slow-finalise", "slow-workers"]  # one worker Job, one finaliser Job
    assert len(worker_pods(world.api, "slow")) == 2
    assert output_of(status) == expected_counts(world.example / "docs")


def test_kill_9_of_the_finaliser_is_replaced_and_finalises_the_same_bytes(world):
    apply_cr(world.api, cr_for(write_slow_yaml(world.example, seconds=0.05), name="fin"))

    def finaliser_pods() -> list[dict]:
        return [
            p
            for p in world.api.list("v1", "pods", "default")
            if (p["metadata"].get("labels") or {}).get("pjob.dev/job") == "fin"
            and p["metadata"]["labels"].get("pjob.dev/role") == "finaliser"
        ]

    def running_finaliser():  # its main container (`pjob finalise`), past the init container
        for pod in finaliser_pods():
            container = world.kubelet.pod_process("default", pod["metadata"]["name"])
            if container is not None and container.name == "finalise" and container.alive:
                return container
        return None

    victim = world.api.wait_for(running_finaliser, timeout=120, interval=0.02, message="the finaliser to run")
    victim.signal_main(signal.SIGKILL)
    status = wait_terminal(world, "fin")
    assert status["state"] == "Succeeded", status
    assert status["miniBatches"] == {"total": 40, "done": 40, "failed": 0}
    assert output_of(status) == expected_counts(world.example / "docs")  # whole, once, in order
    phases = sorted(p["status"].get("phase") for p in finaliser_pods())
    assert phases == ["Failed", "Succeeded"], phases  # the killed pod, and the one the Job made in its place


def test_deleting_the_cr_mid_job_removes_job_pods_configmaps_and_leases(world, kube_client):
    apply_cr(world.api, cr_for(write_slow_yaml(world.example, seconds=0.3), name="slow"))
    wait_progress(world, "slow", 2)
    cr = get_cr(world.api, "paralleljobs", "slow")
    leases = world.api.list("coordination.k8s.io/v1", "leases", "default")
    assert leases, "agents hold Leases while running"
    queue = world.api.get("v1", "configmaps", "slow-queue", "default")
    # created by pjob.coord.kube on the first heartbeat, owned by the queue ConfigMap (GC on delete)
    assert all(
        [(r["kind"], r["uid"]) for r in lease["metadata"]["ownerReferences"]]
        == [("ConfigMap", queue["metadata"]["uid"])]
        for lease in leases
    ), leases
    k8s.CustomObjectsApi(kube_client).delete_namespaced_custom_object(
        "pjob.dev", "v1alpha1", "default", "paralleljobs", "slow"
    )

    def all_gone():
        left = (
            world.api.list("batch/v1", "jobs", "default")
            + world.api.list("v1", "pods", "default")
            + [
                cm
                for cm in world.api.list("v1", "configmaps", "default")
                if cm["metadata"]["name"] != "kube-root-ca.crt"
            ]  # the namespace's own
            + world.api.list("coordination.k8s.io/v1", "leases", "default")
        )
        return not left and get_cr(world.api, "paralleljobs", "slow") is None

    world.api.wait_for(all_gone, timeout=30, message="everything the job owned to be gone")
    assert children(world.api, cr) == []
    world.api.wait_for(
        lambda: not [p for p in world.kubelet.processes() if p.alive], timeout=20, message="the agent processes to stop"
    )
