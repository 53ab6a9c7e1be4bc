"""A real `pjob agent` stops on SIGTERM while it waits for node 0's plan
(exit 143, nothing claimed), even when it starts with SIGTERM ignored: that
is what a pod's PID 1 amounts to (the kernel never applies the default
action to PID 1), so before the handler was installed at process start a
deleted, failed or preempted pod waited for SIGKILL. Uses only the fixture
surface (``api``: the tier's API fixture, kube_api or fake_api: apply/get/wait_for; start_process)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from pjob.coord import kube as coord_kube
from pjob.engine.task import ParallelTask

JOB = "sigterm-wait"
# exec pjob with SIGTERM ignored, as PID 1 without a handler would treat it
AS_PID_1 = ("import os, signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "os.execv(sys.executable, [sys.executable, '-m', 'pjob.cli', *sys.argv[1:]])")


@pytest.fixture
def api(request):
    """The tier's API server fixture: ``kube_api`` (real control plane) or ``fake_api``."""
    for name in ("kube_api", "fake_api"):
        try:
            return request.getfixturevalue(name)
        except pytest.FixtureLookupError:
            continue
    pytest.fail("no kube_api or fake_api fixture in this tier")


def test_agent_waiting_for_the_plan_stops_on_sigterm(api, start_process, tmp_path):
    fake_api, NS = api, getattr(api, "namespace", "default")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("a\n")
    run = tmp_path / "run" / "steps" / "s"
    task = ParallelTask(step="s", job=JOB, code_dir=str(tmp_path), entry_script="x.py", argv=[], env={},
                        input_type="uri_folder", input_uri=str(docs), mini_batch_size="1", partition_keys=None,
                        output_dir=str(run / "outputs" / "o"), append_row_to=None,
                        logs_dir=str(run / "logs"), work_dir=str(run / "work"))
    fake_api.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{JOB}-task", "namespace": NS},
                    "data": {"task.json": task.to_json()}})
    fake_api.apply(coord_kube.queue_configmap(NS, JOB, None, 3))  # no plan: node 0 never publishes one
    agent = start_process([sys.executable, "-c", AS_PID_1, "agent", "--coordinator", f"kube://{NS}/{JOB}",
                           "--task", f"configmap:{JOB}-task", "--node", "1", "--agent-id", "node-1"], name="agent")
    # task.json in the work folder is written after the handler is installed, just before the wait
    fake_api.wait_for(lambda: (run / "work" / "task.json").exists() or agent.popen.poll() is not None, timeout=60,
                      message=f"the agent to start; log:\n{agent.log()}")
    assert agent.popen.poll() is None, agent.log()
    agent.popen.send_signal(signal.SIGTERM)
    try:
        code = agent.popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        code = None
    assert code == 143, f"SIGTERM while waiting for the plan: exit {code}; log:\n{agent.log()}"
    queue = fake_api.get("v1", "configmaps", f"{JOB}-queue", NS)
    assert queue is not None and coord_kube.kube_state.QueueState.decode(queue["data"]).leased == {}
