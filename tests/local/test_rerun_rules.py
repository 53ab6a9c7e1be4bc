"""Re-running a job after a change, an interruption or a deletion, through the real ``pjob``
console script: never a silent success from an older run, never stale output, a warning when the
code changed under a resumed run."""

import os
import signal
import subprocess
import time

from test_cli_edges import COMMAND_JOB, PJOB_SCRIPT, edit, pjob, write_job
from test_cli_edges_run import _start_slow_run


def test_rerun_after_changing_mini_batch_size_is_not_a_silent_success(tmp_path):
    yml = write_job(tmp_path)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    edit(yml, 'mini_batch_size: "2"', 'mini_batch_size: "3"')
    again = pjob("run", yml, cwd=tmp_path)
    assert "already succeeded" not in again.stdout, again.stdout


def test_rerun_after_editing_the_entry_script_runs_the_new_script(tmp_path):
    yml = write_job(tmp_path)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    with open(tmp_path / "code" / "score.py", "w", encoding="utf-8") as fh:
        fh.write("def run(mini_batch):\n    return ['new ' + p[-7:] for p in mini_batch]\n")
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rows = (tmp_path / "pjob-runs/edge/steps/step/outputs/out/parallel_run_step.txt").read_text().splitlines()
    assert rows == [f"new f{i:02d}.txt" for i in range(6)]


def test_two_unnamed_yamls_in_one_folder_do_not_share_a_run(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, "display_name: edge\n", "")
    other = tmp_path / "other.yml"
    other.write_text(open(yml).read().replace('mini_batch_size: "2"', 'mini_batch_size: "3"'))
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    second = pjob("run", other, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already succeeded" not in second.stdout, second.stdout


def test_fixing_an_unmapped_datastore_needs_no_fresh(tmp_path):
    yml = write_job(tmp_path, input_path="azureml://datastores/blob/paths/raw/")
    assert pjob("run", yml, cwd=tmp_path).returncode == 2
    os.makedirs(tmp_path / "store" / "raw")
    for i in range(3):
        (tmp_path / "store" / "raw" / f"f{i}.txt").write_text("x")
    proc = pjob("run", yml, "--datastore", f"blob={tmp_path / 'store'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_code_dot_rerun_is_a_no_op(tmp_path):
    yml = write_job(tmp_path)
    os.rename(tmp_path / "code" / "score.py", tmp_path / "score.py")
    edit(yml, "code: ./code", "code: .")
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode == 0 and "already succeeded" in again.stdout, again.stdout + again.stderr


def test_deleted_output_is_not_reported_as_succeeded(tmp_path):
    yml = write_job(tmp_path)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    out = tmp_path / "pjob-runs/edge/steps/step/outputs/out/parallel_run_step.txt"
    out.unlink()
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode != 0 or out.exists(), again.stdout


def test_resume_after_code_change_warns(tmp_path):
    yml, proc = _start_slow_run(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    with open(tmp_path / "code" / "score.py", "a") as fh:
        fh.write("\n# edited\n")
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode == 0
    assert "changed" in again.stderr + again.stdout, again.stderr


def test_rerun_of_an_interrupted_command_step_starts_with_empty_outputs(tmp_path):
    (tmp_path / "p.yml").write_text(COMMAND_JOB)
    first = subprocess.Popen(
        [PJOB_SCRIPT, "run", "p.yml"],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    log = tmp_path / "pjob-runs/cmdjob/steps/prep/outputs/o/log.txt"
    while not log.exists():
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGINT)
    first.communicate(timeout=30)
    assert pjob("run", "p.yml", cwd=tmp_path).returncode == 0
    assert log.read_text().splitlines() == ["start", "done"]
