"""The real Job controller (kube-controller-manager) and the stand-in kubelet run batch/v1 Jobs'
pods as local processes, as a node would: Indexed completion, env and fieldRefs, retries per
backoffLimit / backoffLimitPerIndex, kill -9, deletion killing processes, suspend, volumes,
pod logs through the API server, in-cluster config with a real ServiceAccount token."""

from __future__ import annotations

import os
import pathlib
import sys
from pathlib import Path

import kubernetes.client as k8s
import pytest

NS = "default"
# what the restricted Pod Security level (enforced on the namespace) asks of every container
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _job(name, code, completions=3, parallelism=3, indexed=True, **spec_extra):
    container = {
        "name": "main",
        "image": "python:3",
        "command": ["python", "-c", code],
        "securityContext": RESTRICTED,
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "GREETING", "value": "hi-$(POD_NAME)"},
        ],
    }
    spec = {
        "completions": completions,
        "parallelism": parallelism,
        "backoffLimit": 6,
        # PID 1 without a SIGTERM handler (python -c) waits out the grace period, as in a real container
        "template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 3, "containers": [container]}},
        **spec_extra,
    }
    if indexed:
        spec["completionMode"] = "Indexed"
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def _pods(kube_api, job_name):
    return kube_api.list("v1", "pods", NS, label_selector=f"batch.kubernetes.io/job-name={job_name}")


def test_indexed_job_runs_every_index_as_a_process_and_completes(kube_api, kube_client, kubelet, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import os, pathlib; i = os.environ['JOB_COMPLETION_INDEX']; "
        f"pathlib.Path(r'{out}', i).write_text(os.environ['POD_NAME'] + ' ' + os.environ['GREETING'])"
    )
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, _job("idx", code))
    job = kubelet.wait_job(NS, "idx")
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    assert "active" not in job["status"] and job["status"]["completionTime"]  # a real status omits zero counts
    pods = _pods(kube_api, "idx")
    assert sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods) == [
        "0",
        "1",
        "2",
    ]
    for pod in pods:
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        name = pod["metadata"]["name"]
        assert name.startswith(f"idx-{index}-")
        assert (out / index).read_text() == f"{name} hi-{name}"
        assert pod["status"]["phase"] == "Succeeded"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
        assert "finalizers" not in pod["metadata"] or not pod["metadata"]["finalizers"]
        assert pod["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]


def test_failing_index_is_retried_per_backoff_limit(kube_api, kube_client, kubelet, tmp_path):
    marker = tmp_path / "failed-once"
    code = (
        f"import os, pathlib, sys; m = pathlib.Path(r'{marker}'); "
        "i = os.environ['JOB_COMPLETION_INDEX']; "
        "sys.exit(0) if i != '1' or m.exists() else (m.write_text('x'), sys.exit(3))"
    )
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, _job("retry", code))
    job = kubelet.wait_job(NS, "retry")
    assert job["status"]["conditions"][-1]["type"] == "Complete"
    assert job["status"]["failed"] == 1 and job["status"]["completedIndexes"] == "0-2"
    index1 = [
        p
        for p in _pods(kube_api, "retry")
        if p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "1"
    ]
    assert sorted(p["status"]["phase"] for p in index1) == ["Failed", "Succeeded"]
    failed = next(p for p in index1 if p["status"]["phase"] == "Failed")
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_job_fails_when_backoff_limit_is_exceeded(kube_client, kubelet):
    k8s.BatchV1Api(kube_client).create_namespaced_job(
        NS, _job("doomed", "import sys; sys.exit(1)", completions=1, parallelism=1, backoffLimit=1)
    )
    job = kubelet.wait_job(NS, "doomed")
    assert job["status"]["conditions"][-1]["type"] == "Failed"
    assert job["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2


def test_backoff_limit_per_index_marks_failed_indexes(kube_client, kubelet):
    code = "import os, sys; sys.exit(1 if os.environ['JOB_COMPLETION_INDEX'] == '0' else 0)"
    k8s.BatchV1Api(kube_client).create_namespaced_job(
        NS, _job("perindex", code, completions=2, parallelism=2, backoffLimitPerIndex=1)
    )
    job = kubelet.wait_job(NS, "perindex")
    assert job["status"]["conditions"][-1]["reason"] == "FailedIndexes"
    assert job["status"]["failedIndexes"] == "0" and job["status"]["completedIndexes"] == "1"
    assert job["status"]["failed"] == 2


def test_kill_9_fails_the_pod_with_137_and_the_index_is_replaced(kube_api, kube_client, kubelet, tmp_path):
    go = tmp_path / "go"
    code = f"import pathlib, time\nwhile not pathlib.Path(r'{go}').exists(): time.sleep(0.05)"
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, _job("victim", code, completions=2, parallelism=2))
    kubelet.wait_for(lambda: len(kubelet.processes()) == 2, message="two pod processes")
    victim = sorted(kubelet.processes(), key=lambda p: p.pod_name)[0]
    kubelet.kill_pod(NS, victim.pod_name)
    kubelet.wait_for(
        lambda: len(_pods(kube_api, "victim")) == 3 and len(kubelet.processes()) == 2, message="a replacement pod"
    )
    go.write_text("go")
    job = kubelet.wait_job(NS, "victim")
    assert job["status"]["conditions"][-1]["type"] == "Complete" and job["status"]["failed"] == 1
    killed = kube_api.get("v1", "pods", victim.pod_name, NS)
    assert killed["status"]["phase"] == "Failed"
    assert killed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137


def test_deleting_the_job_terminates_and_removes_its_pods(kube_api, kube_client, kubelet, tmp_path):
    code = "import time\nwhile True: time.sleep(0.05)"
    batch = k8s.BatchV1Api(kube_client)
    batch.create_namespaced_job(NS, _job("long", code, completions=2, parallelism=2))
    kubelet.wait_for(lambda: len(kubelet.processes()) == 2, message="two pod processes")
    pids = [p.pid for p in kubelet.processes()]
    batch.delete_namespaced_job("long", NS, propagation_policy="Background")
    kubelet.wait_for(lambda: not _pods(kube_api, "long") and not kubelet.processes(), message="pods gone")
    assert kube_api.get("batch/v1", "jobs", "long", NS) is None
    for pid in pids:
        try:
            os.kill(pid, 0)
            waited = os.waitpid(pid, os.WNOHANG)
            assert waited[0] == pid, f"process {pid} still running"
        except (ProcessLookupError, ChildProcessError):
            pass


def test_pod_deletion_sends_sigterm_first(kube_api, kube_client, kubelet, tmp_path):
    seen, ready = tmp_path / "sigterm", tmp_path / "ready"
    code = (
        "import pathlib, signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path(r'{seen}').write_text('term'), sys.exit(0)))\n"
        f"pathlib.Path(r'{ready}').write_text('ready')\n"
        "while True: time.sleep(0.05)"
    )
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, _job("graceful", code, completions=1, parallelism=1))
    kubelet.wait_for(lambda: len(kubelet.processes()) == 1 and ready.exists(), message="the pod process")
    pod = kubelet.processes()[0].pod_name
    k8s.CoreV1Api(kube_client).delete_namespaced_pod(pod, NS)
    kubelet.wait_for(lambda: kube_api.get("v1", "pods", pod, NS) is None, message="pod removal")
    assert seen.read_text() == "term"


def host_pid(pid_inside: int, main_host_pid: int) -> int:
    """The host PID of the process that is `pid_inside` in the PID namespace of `main_host_pid`."""
    namespace = os.readlink(f"/proc/{main_host_pid}/ns/pid")
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "pid") == namespace:
                nspid = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("NSpid:"))
                if int(nspid.split()[-1]) == pid_inside:
                    return int(entry.name)
        except (OSError, StopIteration):
            continue
    raise AssertionError(f"no process {pid_inside} in the PID namespace of {main_host_pid}")


_FAMILY = """\
import os, pathlib, signal, subprocess, sys, time
out = pathlib.Path(sys.argv[1])
def noted(name, then):
    def handler(*_):
        (out / name).write_text(str(os.getpid()))
        then()
    return handler
if sys.argv[2:] == ["child"]:
    signal.signal(signal.SIGTERM, noted("child-term", lambda: None))  # a child that would outlive a SIGTERM
    (out / "child-pid").write_text(str(os.getpid()))
    while True:
        time.sleep(0.05)
child = subprocess.Popen([sys.executable, __file__, str(out), "child"])  # same process group
while not (out / "child-pid").exists():
    time.sleep(0.02)
signal.signal(signal.SIGTERM, noted("main-term", lambda: sys.exit(0) if MODE == "exit" else None))
(out / "ready").write_text("ready")
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("mode", ["exit", "ignore"])
def test_pod_deletion_sigterms_the_main_process_only_and_kills_the_rest(kube_api, kube_client, kubelet, tmp_path, mode):
    """Like a container runtime: SIGTERM to the container's main process only; its children are its
    business. When the main process exits (or the grace period ends) everything left is SIGKILLed."""
    script = tmp_path / "family.py"
    script.write_text(f"MODE = {mode!r}\n" + _FAMILY)
    out = tmp_path / "out"
    out.mkdir()
    kubelet.grace_cap_seconds = 1.0
    job = _job("family", "", completions=1, parallelism=1)
    job["spec"]["template"]["spec"]["containers"][0]["command"] = ["python", str(script), str(out)]
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, job)
    kubelet.wait_for(lambda: (out / "ready").exists(), message="main and child started")
    (proc,) = kubelet.processes()
    child = host_pid(int((out / "child-pid").read_text()), proc.pid)  # it wrote its PID inside the container
    k8s.CoreV1Api(kube_client).delete_namespaced_pod(proc.pod_name, NS)
    kubelet.wait_for(lambda: kube_api.get("v1", "pods", proc.pod_name, NS) is None, message="pod removal")
    kubelet.wait_for(lambda: not proc.alive, message="the main process to end")
    assert (out / "main-term").exists()
    assert not (out / "child-term").exists(), "the child got a SIGTERM: only the main process should"
    assert proc.exit_code == (0 if mode == "exit" else 137)

    def child_gone():  # no such process, or a zombie waiting for its new parent to reap it
        try:
            return pathlib.Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (FileNotFoundError, ProcessLookupError):
            return True

    kubelet.wait_for(child_gone, timeout=5, message="the child to be SIGKILLed with its container")


def test_suspended_job_runs_nothing_until_resumed(kube_api, kube_client, kubelet):
    batch = k8s.BatchV1Api(kube_client)
    batch.create_namespaced_job(NS, _job("later", "pass", completions=1, parallelism=1, suspend=True))
    kubelet.wait_for(
        lambda: any(
            c["type"] == "Suspended"
            for c in (kube_api.get("batch/v1", "jobs", "later", NS)["status"].get("conditions") or [])
        ),
        message="Suspended condition",
    )
    assert _pods(kube_api, "later") == []
    batch.patch_namespaced_job("later", NS, {"spec": {"suspend": False}})
    assert kubelet.wait_job(NS, "later")["status"]["succeeded"] == 1


def test_volumes_map_to_host_folders_and_configmaps_are_materialized(kube_api, kube_client, kubelet, tmp_path):
    shared = tmp_path / "datastore"
    kube_api.bind_claim("pjob-data", shared)
    k8s.CoreV1Api(kube_client).create_namespaced_config_map(
        NS, {"metadata": {"name": "code"}, "data": {"score.py": "VALUE = 42\n"}}
    )
    code = (
        "import os, sys; sys.path.insert(0, '/mnt/code'); import score; "
        "open(os.path.join(sys.argv[1], 'result.txt'), 'w').write(str(score.VALUE) + ' ' + os.getcwd())"
    )
    job = _job("vols", code, completions=1, parallelism=1)
    spec = job["spec"]["template"]["spec"]
    spec["containers"][0]["args"] = ["/mnt/data/out"]
    spec["containers"][0]["workingDir"] = "/mnt/data"
    spec["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/mnt/data"},
        {"name": "code", "mountPath": "/mnt/code"},
    ]
    spec["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "pjob-data"}},
        {"name": "code", "configMap": {"name": "code"}},
    ]
    (shared / "out").mkdir(parents=True)
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, job)
    assert kubelet.wait_job(NS, "vols")["status"]["succeeded"] == 1
    assert (shared / "out" / "result.txt").read_text() == "42 /mnt/data"  # the pod saw its mounts


def test_pod_logs_are_served_and_bad_commands_fail_with_start_error(kube_api, kube_client, kubelet):
    batch, core = k8s.BatchV1Api(kube_client), k8s.CoreV1Api(kube_client)
    batch.create_namespaced_job(
        NS, _job("talk", "print('line 1'); print('line 2')", completions=1, parallelism=1, indexed=False)
    )
    kubelet.wait_job(NS, "talk")
    pod = _pods(kube_api, "talk")[0]["metadata"]["name"]
    assert core.read_namespaced_pod_log(pod, NS) == "line 1\nline 2\n"
    assert core.read_namespaced_pod_log(pod, NS, tail_lines=1) == "line 2\n"
    bad = _job("nocmd", "", completions=1, parallelism=1, backoffLimit=0)
    bad["spec"]["template"]["spec"]["containers"][0]["command"] = ["no-such-program-xyz"]
    batch.create_namespaced_job(NS, bad)
    job = kubelet.wait_job(NS, "nocmd")
    assert job["status"]["conditions"][-1]["type"] == "Failed"
    terminated = _pods(kube_api, "nocmd")[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (128, "StartError")


def test_pods_reach_the_api_server_with_in_cluster_config_and_their_service_account(
    kube_api, kube_client, kubelet, tmp_path
):
    out = tmp_path / "seen.txt"
    code = (
        "import kubernetes; kubernetes.config.load_incluster_config(); "
        "v = kubernetes.client.VersionApi().get_code().git_version; "
        "ns = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read(); "
        f"open(r'{out}', 'w').write(v + ' ' + ns)"
    )
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, _job("inside", code, completions=1, parallelism=1))
    assert kubelet.wait_job(NS, "inside")["status"]["succeeded"] == 1
    assert out.read_text() == "v1.36.3 default"
    assert any(
        r.path.rstrip("/") == "/version" and r.user == "system:serviceaccount:default:default"
        for r in kube_api.requests
    )


def test_pod_log_follow_streams_until_the_container_exits(kube_api, kube_client, kubelet):
    code = "import time\nfor i in range(3):\n    print('tick', i, flush=True); time.sleep(0.1)"
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, _job("ticker", code, completions=1, parallelism=1))
    kubelet.wait_for(lambda: kubelet.processes(), message="the pod process")
    pod = kubelet.processes()[0].pod_name
    response = k8s.CoreV1Api(kube_client).read_namespaced_pod_log(pod, NS, follow=True, _preload_content=False)
    streamed = b"".join(response.stream()).decode()
    assert streamed == "tick 0\ntick 1\ntick 2\n"


def test_pod_failure_policy_ignores_preemption_and_fails_the_job_on_a_fatal_exit_code(
    kube_api, kube_client, kubelet, tmp_path
):
    go, ready = tmp_path / "go", tmp_path / "ready"
    code = (
        "import os, pathlib, sys, time\n"
        f"pathlib.Path(r'{ready}').write_text('ready')\n"
        f"while not pathlib.Path(r'{go}').exists(): time.sleep(0.05)\n"
    )
    policy = {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
        ]
    }
    batch = k8s.BatchV1Api(kube_client)
    batch.create_namespaced_job(
        NS, _job("preempted", code, completions=1, parallelism=1, backoffLimit=0, podFailurePolicy=policy)
    )
    kubelet.wait_for(lambda: kubelet.processes() and ready.exists(), message="the pod process")
    first = kubelet.processes()[0].pod_name
    kubelet.preempt_pod(NS, first)
    kubelet.wait_for(
        lambda: [p.pod_name for p in kubelet.processes()] not in ([], [first]), message="a replacement pod"
    )
    go.write_text("go")
    job = kubelet.wait_job(NS, "preempted")
    assert (
        job["status"]["conditions"][-1]["type"] == "Complete" and job["status"].get("failed", 0) == 0
    )  # Ignore: not counted (a real status omits zeros)

    batch.create_namespaced_job(
        NS,
        _job(
            "fatal", "import sys; sys.exit(42)", completions=1, parallelism=1, backoffLimit=5, podFailurePolicy=policy
        ),
    )
    job = kubelet.wait_job(NS, "fatal")
    assert job["status"]["conditions"][-1]["reason"] == "PodFailurePolicy" and job["status"]["failed"] == 1


def test_deleting_the_namespace_stops_its_jobs_processes(kube_api, kube_client, kubelet):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespace({"metadata": {"name": "short-lived"}})
    job = _job("busy", "import time\nwhile True: time.sleep(0.05)", completions=2, parallelism=2)
    k8s.BatchV1Api(kube_client).create_namespaced_job("short-lived", job)
    kubelet.wait_for(lambda: len(kubelet.processes()) == 2, message="two pod processes")
    core.delete_namespace("short-lived")
    kubelet.wait_for(
        lambda: kube_api.get("v1", "namespaces", "short-lived") is None and not kubelet.processes(),
        message="namespace and processes gone",
    )
    assert kube_api.list("v1", "pods", "short-lived") == []


def test_on_failure_restarts_the_container_in_place_and_counts_restarts(kube_api, kube_client, kubelet, tmp_path):
    counter = tmp_path / "attempts"
    code = (
        f"import pathlib, sys; c = pathlib.Path(r'{counter}'); n = int(c.read_text()) if c.exists() else 0; "
        "c.write_text(str(n + 1)); sys.exit(0 if n >= 2 else 1)"
    )
    job = _job("flaky", code, completions=1, parallelism=1)
    job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    batch = k8s.BatchV1Api(kube_client)
    batch.create_namespaced_job(NS, job)
    done = kubelet.wait_job(NS, "flaky")
    assert done["status"]["conditions"][-1]["type"] == "Complete" and counter.read_text() == "3"
    pods = _pods(kube_api, "flaky")
    assert len(pods) == 1 and pods[0]["status"]["containerStatuses"][0]["restartCount"] == 2
    assert pods[0]["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1

    always = _job("always-fails", "import sys; sys.exit(1)", completions=1, parallelism=1, backoffLimit=1)
    always["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    batch.create_namespaced_job(NS, always)
    failed = kubelet.wait_job(NS, "always-fails")
    assert failed["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"


def test_active_deadline_fails_the_job_and_stops_its_pods(kube_api, kube_client, kubelet):
    k8s.BatchV1Api(kube_client).create_namespaced_job(
        NS,
        _job(
            "overdue",
            "import time\nwhile True: time.sleep(0.05)",
            completions=1,
            parallelism=1,
            activeDeadlineSeconds=1,
        ),
    )
    job = kubelet.wait_job(NS, "overdue", timeout=20)
    assert job["status"]["conditions"][-1]["reason"] == "DeadlineExceeded"
    kubelet.wait_for(lambda: not kubelet.processes(), message="the pod process to stop")


def test_non_indexed_completions_and_ttl_after_finished(kube_api, kube_client, kubelet, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    code = f"import os, pathlib; pathlib.Path(r'{runs}', os.environ['POD_NAME']).write_text('ok')"
    k8s.BatchV1Api(kube_client).create_namespaced_job(
        NS, _job("plain", code, completions=3, parallelism=2, indexed=False, ttlSecondsAfterFinished=0)
    )
    kubelet.wait_for(lambda: kube_api.get("batch/v1", "jobs", "plain", NS) is None, message="TTL deletion of the job")
    assert len(list(runs.iterdir())) == 3
    kubelet.wait_for(lambda: _pods(kube_api, "plain") == [], message="its pods collected")


def test_unmounted_working_dir_is_created_and_empty_dir_at_tmp_is_private(kube_api, kube_client, kubelet, tmp_path):
    # the "image" is this machine: an emptyDir over /tmp would hide an interpreter that lives under /tmp
    scratch = "/var/tmp" if sys.executable.startswith("/tmp/") else "/tmp"
    out = tmp_path / "out"  # the pod's scratch folder is its own emptyDir: the test's folder reaches it as a claim
    kube_api.bind_claim("dirs-out", out)
    code = (
        "import os; open(os.path.join(os.environ['TMPDIR'], 'mine'), 'w').write('x'); "
        "open('/out/seen.txt', 'w').write(os.getcwd() + '|' + os.environ['TMPDIR'])"
    )
    job = _job("dirs", code, completions=1, parallelism=1)
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["workingDir"] = "/work"
    container["env"].append({"name": "TMPDIR", "value": scratch})
    container["volumeMounts"] = [{"name": "tmp", "mountPath": scratch}, {"name": "out", "mountPath": "/out"}]
    job["spec"]["template"]["spec"]["volumes"] = [
        {"name": "tmp", "emptyDir": {}},
        {"name": "out", "persistentVolumeClaim": {"claimName": "dirs-out"}},
    ]
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, job)
    assert kubelet.wait_job(NS, "dirs")["status"]["succeeded"] == 1
    assert (out / "seen.txt").read_text() == f"/work|{scratch}"
    (written,) = (kubelet.workdir / "pods").glob("default_dirs-*/volumes/tmp/mine")  # in the emptyDir
    assert not Path(scratch, "mine").exists()


def test_a_held_pod_stays_pending_and_an_unknown_image_backs_off(kube_api, kube_client, kubelet):
    kubelet.hold.add("held-")
    batch = k8s.BatchV1Api(kube_client)
    batch.create_namespaced_job(NS, _job("held", "pass", completions=1, parallelism=1, indexed=False))

    def waiting(job_name, reason):
        pods = _pods(kube_api, job_name)
        states = [
            (
                p["status"].get("phase"),
                ((p["status"].get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting", {}).get("reason"),
            )
            for p in pods
        ]
        return states == [("Pending", reason)]

    kubelet.wait_for(lambda: waiting("held", "ContainerCreating"), message="the held pod waiting")
    kubelet.hold.clear()
    assert kubelet.wait_job(NS, "held")["status"]["succeeded"] == 1

    nowhere = _job("pull", "pass", completions=1, parallelism=1, indexed=False)
    nowhere["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.invalid/nothing:1"
    batch.create_namespaced_job(NS, nowhere)
    kubelet.wait_for(lambda: waiting("pull", "ImagePullBackOff"), message="ImagePullBackOff")
