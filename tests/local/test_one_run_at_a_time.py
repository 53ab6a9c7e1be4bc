"""One ``pjob run`` of a job at a time (``--fresh`` included), and signals reaching a command
step: a second run is refused with exit 2 and deletes nothing; SIGTERM stops the command."""

import os
import shutil
import signal
import subprocess
import time

import pytest
from test_cli_edges import COMMAND_JOB, PJOB_SCRIPT, pjob
from test_cli_edges_run import _start_slow_run, job_result


def test_fresh_while_running_is_refused_and_deletes_nothing(tmp_path):
    yml, first = _start_slow_run(tmp_path, files=10)
    second = pjob("run", yml, "--fresh", cwd=tmp_path)
    out, err = first.communicate(timeout=60)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "already running" in second.stderr
    assert first.returncode == 0, out + err
    assert len(os.listdir(tmp_path / "marks")) == 10
    assert "attempts:     10" in job_result(tmp_path)


def test_second_run_of_a_running_command_step_is_refused(tmp_path):
    (tmp_path / "p.yml").write_text(COMMAND_JOB)
    first = subprocess.Popen(
        [PJOB_SCRIPT, "run", "p.yml"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    log = tmp_path / "pjob-runs" / "cmdjob" / "steps" / "prep" / "outputs" / "o" / "log.txt"
    deadline = time.time() + 20
    while not log.exists():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.05)
    second = pjob("run", "p.yml", cwd=tmp_path)
    first.communicate(timeout=30)
    assert second.returncode == 2, second.stdout + second.stderr
    assert log.read_text().splitlines() == ["start", "done"]


@pytest.mark.skipif(not shutil.which("pgrep"), reason="needs pgrep")
def test_sigterm_during_a_command_step_stops_the_command(tmp_path):
    (tmp_path / "p.yml").write_text(
        "type: pipeline\ndisplay_name: term\njobs:\n  prep:\n    type: command\n"
        "    command: sleep 30; echo late > ${{outputs.o}}/late.txt\n"
        "    outputs: {o: {type: uri_folder}}\n"
    )
    proc = subprocess.Popen([PJOB_SCRIPT, "run", "p.yml"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while not subprocess.run(["pgrep", "-f", f"late > {tmp_path}"], capture_output=True).stdout:
        assert time.time() < deadline and proc.poll() is None, "the command step never started"
        time.sleep(0.05)
    proc.terminate()
    proc.communicate(timeout=30)
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"late > {tmp_path}"], capture_output=True, text=True).stdout.split()
    for pid in left:  # clean up before asserting
        os.kill(int(pid), signal.SIGKILL)
    assert not left, "the command step outlived pjob run after SIGTERM"
