"""What a second `pjob run` of the same job does: resume, re-run what changed,
refuse to run twice at once, and clean up on SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import yaml
from pjobrun import run_pjob, write

SCRIPT = "import os\ndef init():\n    pass\n\ndef run(mini_batch):\n    open(os.path.join(os.environ['MARKS'], str(len(os.listdir(os.environ['MARKS'])))), 'w').close()\n    return [TAG + os.path.basename(p) for p in mini_batch]\n"


def _job(tmp_path, tag="", size="2", name="state", extra_step=None):
    write(tmp_path / "code" / "s.py", f"TAG = {tag!r}\n" + SCRIPT)
    for i in range(4):
        write(tmp_path / "docs" / f"d{i}.txt", "x")
    (tmp_path / "marks").mkdir(exist_ok=True)
    jobs = {
        "names": {
            "type": "parallel",
            "inputs": {"docs": {"type": "uri_folder", "path": "./docs"}},
            "outputs": {"out": {"type": "uri_file", "path": "./out.txt"}},
            "input_data": "${{inputs.docs}}",
            "mini_batch_size": size,
            "max_concurrency_per_instance": 1,
            "environment_variables": {"MARKS": str(tmp_path / "marks")},
            "task": {"code": "./code", "entry_script": "s.py", "append_row_to": "${{outputs.out}}"},
        }
    }
    jobs.update(extra_step or {})
    body = {"type": "pipeline", "jobs": jobs}
    if name:
        body["name"] = name
    return write(tmp_path / "pipeline.yml", yaml.safe_dump(body, sort_keys=False))


def _runs(tmp_path):
    return len(os.listdir(tmp_path / "marks"))


def test_unchanged_rerun_is_skipped_and_a_changed_script_runs_again(tmp_path):
    yml = _job(tmp_path)
    assert run_pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 0
    assert _runs(tmp_path) == 2
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0 and "already succeeded" in proc.stderr and _runs(tmp_path) == 2
    _job(tmp_path, tag="v2-")  # the entry script changed
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert "changed since it succeeded" in proc.stderr
    assert (tmp_path / "out.txt").read_text() == "v2-d0.txt\nv2-d1.txt\nv2-d2.txt\nv2-d3.txt\n"
    assert _runs(tmp_path) == 4


def test_a_changed_mini_batch_size_after_success_runs_the_step_from_scratch(tmp_path):
    yml = _job(tmp_path)
    assert run_pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 0
    _job(tmp_path, size="1")
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert _runs(tmp_path) == 2 + 4
    assert (tmp_path / "out.txt").read_text() == "d0.txt\nd1.txt\nd2.txt\nd3.txt\n"


def test_new_or_modified_input_files_after_success_run_the_step_again(tmp_path):
    yml = _job(tmp_path)
    assert run_pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 0
    write(tmp_path / "docs" / "d4.txt", "new")  # arrived after the run: must not be silently left out
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert "its input changed since it succeeded" in proc.stderr
    assert (tmp_path / "out.txt").read_text() == "d0.txt\nd1.txt\nd2.txt\nd3.txt\nd4.txt\n"
    assert _runs(tmp_path) == 2 + 3
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert "already succeeded" in proc.stderr and _runs(tmp_path) == 5  # unchanged now
    later = time.time() + 5
    os.utime(tmp_path / "docs" / "d2.txt", (later, later))  # rewritten in place
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert "its input changed since it succeeded" in proc.stderr and _runs(tmp_path) == 5 + 3


def test_input_changed_under_an_unfinished_step_is_bad_input_until_fresh(tmp_path):
    yml = _job(tmp_path)
    write(
        tmp_path / "code" / "s.py",
        SCRIPT.replace("def run(mini_batch):\n", "def run(mini_batch):\n    raise ValueError('no')\n"),
    )
    assert run_pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 1  # the step failed
    write(tmp_path / "code" / "s.py", "TAG = ''\n" + SCRIPT)
    os.remove(tmp_path / "docs" / "d0.txt")
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 2, proc.stderr
    assert "pipeline.yml:" in proc.stderr and "jobs.names.input_data" in proc.stderr
    assert "changed since the interrupted run planned it" in proc.stderr and "--fresh" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs", "--fresh")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.txt").read_text() == "d1.txt\nd2.txt\nd3.txt\n"


def test_downstream_steps_rerun_when_an_upstream_step_ran_again(tmp_path):
    after = {
        "after": {
            "type": "command",
            "command": "cat ${{inputs.names}} | wc -l > ${{outputs.n}}",
            "inputs": {"names": {"type": "uri_file", "path": "${{parent.jobs.names.outputs.out}}"}},
            "outputs": {"n": {"type": "uri_file"}},
        }
    }
    yml = _job(tmp_path, extra_step=after)
    assert run_pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 0
    _job(tmp_path, tag="v2-", extra_step=after)
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert "step names: changed since it succeeded" in proc.stderr
    assert "step after: changed since it succeeded" in proc.stderr  # its input was produced again


def test_two_yaml_files_in_one_folder_never_share_a_run(tmp_path):
    yml = _job(tmp_path, name=None)
    other = tmp_path / "other.yml"
    other.write_text(yml.read_text())
    assert run_pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 0
    assert run_pjob("run", other, "--runs-dir", tmp_path / "runs").returncode == 0
    assert sorted(p for p in os.listdir(tmp_path / "runs") if not p.startswith(".")) == [
        f"{tmp_path.name}-other",
        f"{tmp_path.name}-pipeline",
    ]


def _slow_command_job(tmp_path):
    body = {
        "type": "pipeline",
        "name": "slow",
        "jobs": {
            "c": {
                "type": "command",
                "command": "echo start >> ${{outputs.o}}/log.txt; sleep 4; echo done >> ${{outputs.o}}/log.txt",
                "outputs": {"o": {"type": "uri_folder", "path": "./o"}},
            }
        },
    }
    return write(tmp_path / "slow.yml", yaml.safe_dump(body))


def _start(tmp_path, yml):
    proc = subprocess.Popen(
        [sys.executable, "-m", "pjob.cli", "run", str(yml), "--runs-dir", str(tmp_path / "runs")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while not (tmp_path / "o" / "log.txt").exists() and time.time() < deadline:
        time.sleep(0.05)
    return proc


def test_a_second_run_of_a_running_job_is_refused_even_with_fresh(tmp_path):
    yml = _slow_command_job(tmp_path)
    first = _start(tmp_path, yml)
    for extra in ([], ["--fresh"]):
        proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs", *extra)
        assert proc.returncode == 2 and "already running" in proc.stderr, proc.stderr
    assert first.wait(timeout=60) == 0
    assert (tmp_path / "o" / "log.txt").read_text() == "start\ndone\n"
    assert (tmp_path / "runs" / "slow" / "state.json").exists()


def test_sigterm_stops_the_command_step_and_the_run_resumes(tmp_path):
    yml = _slow_command_job(tmp_path)
    first = _start(tmp_path, yml)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 143
    time.sleep(5)  # the command would have written "done" by now if it were still running
    assert (tmp_path / "o" / "log.txt").read_text() == "start\n"
    assert run_pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 0
    assert (tmp_path / "o" / "log.txt").read_text().endswith("start\ndone\n")


def test_summary_names_mini_batches_failed_within_the_thresholds(tmp_path):
    yml = _job(tmp_path)
    write(
        tmp_path / "code" / "s.py",
        "def init():\n    pass\n\ndef run(mb):\n    if mb[0].endswith('d0.txt'):\n        raise ValueError('bad')\n    return mb\n",
    )
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert "Succeeded with 1 failed mini-batch(es) (2 item(s) not in the output)" in proc.stdout
    assert "--retry-failed" in proc.stdout


def test_unreadable_yaml_and_a_folder_given_as_yaml_are_bad_input(tmp_path):
    (tmp_path / "d.yml").mkdir()
    proc = run_pjob("run", tmp_path / "d.yml")
    assert proc.returncode == 2 and "is a folder" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_pjob("run", tmp_path / "nope.yml", "--debug")
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_output_paths_of_the_wrong_kind_are_bad_input(tmp_path):
    yml = _job(tmp_path)
    (tmp_path / "out.txt").mkdir()  # uri_file output, but a folder is there
    for cmd in ("validate", "run"):
        proc = run_pjob(cmd, yml, "--runs-dir", tmp_path / "runs") if cmd == "run" else run_pjob(cmd, yml)
        assert proc.returncode == 2, proc.stderr
        assert "jobs.names.outputs.out.path: ./out.txt is a folder but type uri_file writes a file" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert _runs(tmp_path) == 0


def test_an_empty_input_says_so(tmp_path):
    yml = _job(tmp_path)
    for p in (tmp_path / "docs").iterdir():
        p.unlink()
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 1
    result = (tmp_path / "runs" / "state" / "steps" / "names" / "logs" / "job_result.txt").read_text()
    assert "has no items: 0 mini-batches were planned" in result and str(tmp_path / "docs") in result


def test_run_returning_none_hints_at_a_missing_return(tmp_path):
    yml = _job(tmp_path)
    write(tmp_path / "code" / "s.py", "def init():\n    pass\n\ndef run(mb):\n    mb.sort()\n")
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 1
    result = (tmp_path / "runs" / "state" / "steps" / "names" / "logs" / "job_result.txt").read_text()
    # error_threshold -1 (the default): returning None is not a failure, but there is nothing to write
    assert "is a return statement missing?" in result
    report = (
        tmp_path / "runs" / "state" / "steps" / "names" / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
    )
    assert "run() returned None: is a return statement missing?" in report.read_text()
