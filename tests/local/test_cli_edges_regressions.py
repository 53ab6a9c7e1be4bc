"""Regression tests for bugs found by the CLI/UX audit (U-numbers), fixed in
the local driver, the spec checks and the engine; each failed before its fix."""

import os
import signal
import subprocess
import time

import pytest
from test_cli_edges import PJOB_SCRIPT, assert_user_error, edit, pjob, write_job
from test_cli_edges_fixed import pjob_obeying_modes
from test_cli_edges_run import _start_slow_run


# U5
def test_U5_read_only_output_folder_is_reported_without_traceback(tmp_path):
    yml = write_job(tmp_path)
    (tmp_path / "outro").mkdir()
    os.chmod(tmp_path / "outro", 0o555)
    edit(yml, "      out:\n        type: uri_folder\n", "      out:\n        type: uri_folder\n        path: ./outro\n")
    proc = pjob_obeying_modes("run", "pipeline.yml", cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (1, 2) and "outro" in proc.stdout + proc.stderr
    if proc.returncode == 1:
        assert "Permission denied" in (tmp_path / "pjob-runs/edge/steps/step/logs/job_result.txt").read_text()


@pytest.mark.parametrize("where", ["a-file", "runs-dir-file"])
def test_U6_output_folders_that_are_files(tmp_path, where):
    (tmp_path / "afile").write_text("x")
    if where == "a-file":
        proc = pjob("crds", "--output", "afile", cwd=tmp_path)
    else:
        proc = pjob("run", write_job(tmp_path), "--runs-dir", "afile", cwd=tmp_path)
    assert_user_error(proc, "afile")


# U18
def test_U18_unmapped_datastore_names_field_and_flag(tmp_path):
    yml = write_job(tmp_path, input_path="azureml://datastores/blob/paths/raw/")
    assert_user_error(pjob("run", yml, cwd=tmp_path), "pipeline.yml:9: jobs.step.inputs.docs.path", "--datastore")


# U20
@pytest.mark.parametrize(
    "out",
    [
        "type: uri_file\n        path: ./docs/f00.txt",
        "type: uri_folder\n        path: ./code",
        "type: uri_file\n        path: ./pipeline.yml",
    ],
)
def test_U20_output_overlapping_input_code_or_yaml_is_refused(tmp_path, out):
    yml = write_job(tmp_path)
    edit(yml, "      out:\n        type: uri_folder\n", f"      out:\n        {out}\n")
    original = open(yml).read()
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), "jobs.step.outputs.out.path")
    assert_user_error(pjob("run", "pipeline.yml", cwd=tmp_path), "jobs.step.outputs.out.path")
    assert (tmp_path / "docs" / "f00.txt").read_text() == "hello 0\n"
    assert open(yml).read() == original


# U21
def test_U21_inspect_into_a_closed_pipe_has_no_traceback(tmp_path):
    write_job(tmp_path, files=20000)
    proc = subprocess.run(
        f"{PJOB_SCRIPT} inspect docs --mini-batch-size 1 | head -1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "Traceback" not in proc.stderr, proc.stderr


# U25
def test_U25_code_dot_rerun_is_a_no_op(tmp_path):
    yml = write_job(tmp_path)
    os.rename(tmp_path / "code" / "score.py", tmp_path / "score.py")
    edit(yml, "code: ./code", "code: .")
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode == 0 and "already succeeded" in again.stdout, again.stdout + again.stderr


# U26
def test_U26_deleted_output_is_not_reported_as_succeeded(tmp_path):
    yml = write_job(tmp_path)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    out = tmp_path / "pjob-runs/edge/steps/step/outputs/out/parallel_run_step.txt"
    out.unlink()
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode != 0 or out.exists(), again.stdout


# U27
def test_U27_resume_after_code_change_warns(tmp_path):
    yml, proc = _start_slow_run(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    with open(tmp_path / "code" / "score.py", "a") as fh:
        fh.write("\n# edited\n")
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode == 0
    assert "changed" in again.stderr + again.stdout, again.stderr


# U28
def test_U28_runs_dir_inside_the_input_is_not_listed_as_data(tmp_path):
    yml = write_job(tmp_path)
    proc = pjob("run", yml, "--runs-dir", "docs/runs", cwd=tmp_path)
    if proc.returncode == 0:
        rows = (tmp_path / "docs/runs/edge/steps/step/outputs/out/parallel_run_step.txt").read_text().splitlines()
        assert len(rows) == 6, rows
    else:
        assert_user_error(proc, "--runs-dir", "docs")


# U32
def test_U32_quoted_reference_in_program_arguments_has_no_literal_quotes(tmp_path):
    yml = write_job(tmp_path, "import sys\ndef run(mini_batch):\n    return [repr(sys.argv[1:3])] * len(mini_batch)\n")
    os.rename(tmp_path / "docs", tmp_path / "my docs")
    edit(yml, "path: ./docs", 'path: "./my docs"')
    edit(
        yml,
        "      type: run_function\n",
        '      type: run_function\n      program_arguments: --data "${{inputs.docs}}"\n',
    )
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    rows = (tmp_path / "pjob-runs/edge/steps/step/outputs/out/parallel_run_step.txt").read_text().splitlines()
    assert rows[0] == repr(["--data", str(tmp_path / "my docs")])


# U34
from test_cli_edges_fixed import COMMAND_JOB


def test_U34_rerun_of_an_interrupted_command_step_starts_with_empty_outputs(tmp_path):
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


# U35
def test_U35_steps_fed_by_a_failed_step_are_skipped(tmp_path):
    (tmp_path / "p.yml").write_text(
        "type: pipeline\ndisplay_name: cont\nsettings: {continue_on_step_failure: true}\njobs:\n"
        "  a: {type: command, command: exit 3, outputs: {o: {type: uri_folder}}}\n"
        '  b: {type: command, command: "echo b > ${{outputs.o}}/b.txt", outputs: {o: {type: uri_folder}}}\n'
        '  c: {type: command, inputs: {x: "${{parent.jobs.a.outputs.o}}"}, command: "ls ${{inputs.x}}"}\n'
    )
    proc = pjob("run", "p.yml", cwd=tmp_path)
    assert proc.returncode == 1
    assert "b [command]: Succeeded" in proc.stdout
    assert "c [command]: Skipped" in proc.stdout, proc.stdout


# U36
def test_U36_two_outputs_with_one_path_are_refused(tmp_path):
    yml = write_job(tmp_path)
    edit(
        yml, "      out:\n        type: uri_folder\n", "      out:\n        type: uri_folder\n        path: ./results\n"
    )
    text = open(yml).read()
    head, step = text.split("jobs:\n")
    open(yml, "w").write(head + "jobs:\n" + step + step.replace("  step:", "  step2:"))
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), "outputs.out.path", "results")
