"""Regression tests for the local-UX bugs found by the QA pass and fixed since
(/tmp/pjob-notes/ux-bugs.md, U-numbers in the test names), through the real
``pjob`` console script: silent stale results, concurrent and ``--fresh``
runs, output paths of the wrong kind, unreadable paths, empty inputs, MLTables at
validation, SIGTERM, ``--debug``.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest
from test_cli_edges import PJOB_SCRIPT, assert_user_error, edit, pjob, write_job
from test_cli_edges_run import _start_slow_run, job_result

NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]  # root that obeys file modes


def pjob_obeying_modes(*args, cwd):
    """pjob as a process for which chmod 000 really denies access, also when the tests run as root."""
    if os.geteuid() != 0:
        return pjob(*args, cwd=cwd)
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: chmod cannot deny access")
    return subprocess.run(NO_DAC + [PJOB_SCRIPT, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


# --- U1: a changed job is not reported from an older run ---------------------------------------------------


def test_U1_rerun_after_changing_mini_batch_size_is_not_a_silent_success(tmp_path):
    yml = write_job(tmp_path)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    edit(yml, 'mini_batch_size: "2"', 'mini_batch_size: "3"')
    again = pjob("run", yml, cwd=tmp_path)
    assert "already succeeded" not in again.stdout, again.stdout


def test_U1_rerun_after_editing_the_entry_script_runs_the_new_script(tmp_path):
    yml = write_job(tmp_path)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    with open(tmp_path / "code" / "score.py", "w", encoding="utf-8") as fh:
        fh.write("def run(mini_batch):\n    return ['new ' + p[-7:] for p in mini_batch]\n")
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rows = (tmp_path / "pjob-runs/edge/steps/step/outputs/out/parallel_run_step.txt").read_text().splitlines()
    assert rows == [f"new f{i:02d}.txt" for i in range(6)]


def test_U1_two_unnamed_yamls_in_one_folder_do_not_share_a_run(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, "display_name: edge\n", "")
    other = tmp_path / "other.yml"
    other.write_text(open(yml).read().replace('mini_batch_size: "2"', 'mini_batch_size: "3"'))
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    second = pjob("run", other, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already succeeded" not in second.stdout, second.stdout


# --- U2/U3: one pjob run of a job at a time, --fresh included -------------------------------------------------


def test_U2_fresh_while_running_is_refused_and_deletes_nothing(tmp_path):
    yml, first = _start_slow_run(tmp_path, files=10)
    second = pjob("run", yml, "--fresh", cwd=tmp_path)
    out, err = first.communicate(timeout=60)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "already running" in second.stderr
    assert first.returncode == 0, out + err
    assert len(os.listdir(tmp_path / "marks")) == 10
    assert "attempts:     10" in job_result(tmp_path)


COMMAND_JOB = (
    "type: pipeline\ndisplay_name: cmdjob\njobs:\n  prep:\n    type: command\n"
    "    command: echo start >> ${{outputs.o}}/log.txt && sleep 2 && echo done >> ${{outputs.o}}/log.txt\n"
    "    outputs: {o: {type: uri_folder}}\n"
)


def test_U3_second_run_of_a_running_command_step_is_refused(tmp_path):
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


# --- U4/U5/U6: paths of the wrong kind or without access: exit 2 naming them, no traceback ------------------


@pytest.mark.parametrize("out_type,make", [("uri_folder", "file"), ("uri_file", "dir")])
def test_U4_output_path_of_the_wrong_kind_is_a_user_error(tmp_path, out_type, make):
    yml = write_job(tmp_path)
    target = tmp_path / "existing"
    target.write_text("precious\n") if make == "file" else target.mkdir()
    edit(
        yml,
        "      out:\n        type: uri_folder\n",
        f"      out:\n        type: {out_type}\n        path: ./existing\n",
    )
    for command in ("validate", "run"):
        assert_user_error(pjob(command, "pipeline.yml", cwd=tmp_path), "jobs.step.outputs.out.path")
    assert make == "dir" or target.read_text() == "precious\n"


def test_U5_read_only_output_folder_is_reported_before_running(tmp_path):
    yml = write_job(tmp_path)
    (tmp_path / "outro").mkdir()
    os.chmod(tmp_path / "outro", 0o555)
    edit(yml, "      out:\n        type: uri_folder\n", "      out:\n        type: uri_folder\n        path: ./outro\n")
    proc = pjob_obeying_modes("run", "pipeline.yml", cwd=tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (1, 2) and "outro" in proc.stdout + proc.stderr


def test_U6_unreadable_yaml_is_a_user_error(tmp_path):
    yml = write_job(tmp_path)
    os.chmod(yml, 0)
    assert_user_error(pjob_obeying_modes("validate", "pipeline.yml", cwd=tmp_path), "pipeline.yml", "ermission")


def test_U6_unreadable_input_folder_is_a_user_error(tmp_path):
    write_job(tmp_path)
    os.chmod(tmp_path / "docs", 0)
    try:
        assert_user_error(pjob_obeying_modes("run", "pipeline.yml", cwd=tmp_path), "docs")
    finally:
        os.chmod(tmp_path / "docs", 0o755)


@pytest.mark.parametrize("where", ["crds-output", "runs-dir"])
def test_U6_folders_that_are_files(tmp_path, where):
    (tmp_path / "afile").write_text("x")
    if where == "crds-output":
        proc = pjob("crds", "--output", "afile", cwd=tmp_path)
    else:
        proc = pjob("run", write_job(tmp_path), "--runs-dir", "afile", cwd=tmp_path)
    assert_user_error(proc, "afile")
    assert (tmp_path / "afile").read_text() == "x"


# --- U7/U8 ------------------------------------------------------------------------------------------------------


def test_U7_empty_input_names_the_input_not_failed_mini_batches(tmp_path):
    yml = write_job(tmp_path, files=0)
    assert pjob("run", yml, cwd=tmp_path).returncode == 1
    text = job_result(tmp_path)
    assert "see the failed mini-batches below" not in text
    assert "docs" in text.split("why:")[1].splitlines()[0], text


def test_U8_validate_reads_the_mltable(tmp_path):
    _table(tmp_path)
    with open(tmp_path / "t" / "MLTable", "a", encoding="utf-8") as fh:
        fh.write("  - frobnicate: {x: 1}\n")
    write_job(tmp_path, input_type="mltable", input_path="./t", mini_batch_size="1kb")
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), "MLTable", "frobnicate")


# --- U9/U10/U19: messages and state after bad input -------------------------------------------------------------


def _table(folder):
    table = folder / "t"
    table.mkdir()
    (table / "x.csv").write_text("a,b\n1,2\n")
    (table / "MLTable").write_text(
        'paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n      delimiter: ","\n'
    )


def test_U9_unknown_partition_key_names_file_and_field(tmp_path):
    _table(tmp_path)
    yml = write_job(tmp_path, input_type="mltable", input_path="./t")
    edit(yml, 'mini_batch_size: "2"', "partition_keys: [nope]")
    assert_user_error(pjob("run", "pipeline.yml", cwd=tmp_path), "pipeline.yml:14: jobs.step.partition_keys", "nope")


def test_U10_yaml_path_that_is_a_folder(tmp_path):
    (tmp_path / "d.yml").mkdir()
    assert_user_error(pjob("run", "d.yml", cwd=tmp_path), "d.yml", "folder")


def test_U19_fixing_an_unmapped_datastore_needs_no_fresh(tmp_path):
    yml = write_job(tmp_path, input_path="azureml://datastores/blob/paths/raw/")
    assert pjob("run", yml, cwd=tmp_path).returncode == 2
    os.makedirs(tmp_path / "store" / "raw")
    for i in range(3):
        (tmp_path / "store" / "raw" / f"f{i}.txt").write_text("x")
    proc = pjob("run", yml, "--datastore", f"blob={tmp_path / 'store'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


# --- U14/U15/U16 ----------------------------------------------------------------------------------------------


@pytest.mark.skipif(not shutil.which("pgrep"), reason="needs pgrep")
def test_U14_sigterm_during_a_command_step_stops_the_command(tmp_path):
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


def test_U15_debug_keeps_exit_code_2_for_bad_input(tmp_path):
    proc = pjob("run", "nope.yml", "--debug", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_U16_summary_says_when_mini_batches_failed_within_thresholds(tmp_path):
    script = (
        "def run(mini_batch):\n    if mini_batch[0].endswith('f02.txt'):\n        raise ValueError('x')\n"
        "    return mini_batch\n"
    )
    proc = pjob("run", write_job(tmp_path, script), cwd=tmp_path)
    assert proc.returncode == 0
    assert "1 failed" in proc.stdout or "failed mini-batch" in proc.stdout, proc.stdout
