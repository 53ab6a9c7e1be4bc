"""Nothing an entry script starts outlives the run: a child of a worker killed
at its timeout dies with it, and helpers started in init() (a server, a
`sleep`) are stopped when the agent stops. Real `pjob run` processes; the
entry scripts write the pids of what they start."""

import os
import time

import psutil
import yaml
from pjobrun import run_pjob, write

SCRIPT = """
import os, subprocess, sys, time
PIDS = os.environ["PIDS"]

def start(kind):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.path.join(PIDS, f"{kind}-{proc.pid}"), "w"):
        pass

def init():
    if os.environ.get("HELPER_IN_INIT"):
        start("helper")

def run(mini_batch):
    if os.environ.get("HANG_WITH_CHILD") and not os.listdir(PIDS):
        start("child")
        time.sleep(600)  # past the timeout: the worker is killed
    return [os.path.basename(p) for p in mini_batch]
"""


def _pipeline(tmp_path, **env):
    write(tmp_path / "code" / "score.py", SCRIPT)
    for i in range(4):
        write(tmp_path / "data" / f"f{i}.txt", f"{i}\n")
    (tmp_path / "pids").mkdir()
    step = {
        "type": "parallel",
        "inputs": {"data": {"type": "uri_folder", "path": "./data"}},
        "outputs": {"out": {"type": "uri_file", "path": "./out.txt"}},
        "input_data": "${{inputs.data}}",
        "mini_batch_size": "2",
        "max_concurrency_per_instance": 1,
        "environment_variables": {"PIDS": str(tmp_path / "pids"), **env},
        "retry_settings": {"max_retries": 1, "timeout": 3},
        "task": {"code": "./code", "entry_script": "score.py", "append_row_to": "${{outputs.out}}"},
    }
    return write(tmp_path / "p.yml", yaml.safe_dump({"type": "pipeline", "name": "left", "jobs": {"score": step}}))


def _started(tmp_path):
    return {name: int(name.split("-")[1]) for name in os.listdir(tmp_path / "pids")}


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _assert_all_gone(pids):
    deadline = time.monotonic() + 5  # SIGKILL delivery is asynchronous
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [p for p in pids if _running(p)]
    for pid in alive:  # do not leak them from the test either
        psutil.Process(pid).kill()
    assert not alive, f"still running after the run: {alive}"


def test_child_of_a_worker_killed_at_its_timeout_is_killed_too(tmp_path):
    proc = run_pjob("run", _pipeline(tmp_path, HANG_WITH_CHILD="1"), "--runs-dir", tmp_path / "runs")
    started = _started(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [k.split("-")[0] for k in started] == ["child"]
    assert (tmp_path / "out.txt").read_text() == "f0.txt\nf1.txt\nf2.txt\nf3.txt\n"  # retried
    _assert_all_gone(started.values())


def test_helpers_started_in_init_are_stopped_when_the_run_ends(tmp_path):
    proc = run_pjob("run", _pipeline(tmp_path, HELPER_IN_INIT="1"), "--runs-dir", tmp_path / "runs")
    started = _started(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(started) == 1 and next(iter(started)).startswith("helper-")
    _assert_all_gone(started.values())
    agent_log = tmp_path / "runs" / "left" / "steps" / "score" / "logs" / "sys" / "node" / "0" / "agent.txt"
    assert "left behind by workers" in agent_log.read_text()
