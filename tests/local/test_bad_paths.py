"""Paths a user gives that cannot work (outputs of the wrong kind, unreadable or read-only
folders, files where folders belong, outputs overlapping inputs, code or YAML, two outputs on one
path, empty inputs): exit 2 naming the path and the field, no traceback, nothing written."""

import os
import shutil
import subprocess

import pytest
from test_cli_edges import PJOB_SCRIPT, assert_user_error, edit, pjob, write_job
from test_cli_edges_run import job_result

NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]  # root that obeys file modes


def pjob_obeying_modes(*args, cwd):
    """pjob as a process for which chmod 000 really denies access, also when the tests run as root."""
    if os.geteuid() != 0:
        return pjob(*args, cwd=cwd)
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: chmod cannot deny access")
    return subprocess.run(NO_DAC + [PJOB_SCRIPT, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("out_type,make", [("uri_folder", "file"), ("uri_file", "dir")])
def test_output_path_of_the_wrong_kind_is_a_user_error(tmp_path, out_type, make):
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


def test_read_only_output_folder_is_reported_before_running(tmp_path):
    yml = write_job(tmp_path)
    (tmp_path / "outro").mkdir()
    os.chmod(tmp_path / "outro", 0o555)
    edit(yml, "      out:\n        type: uri_folder\n", "      out:\n        type: uri_folder\n        path: ./outro\n")
    proc = pjob_obeying_modes("run", "pipeline.yml", cwd=tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (1, 2) and "outro" in proc.stdout + proc.stderr


def test_unreadable_yaml_is_a_user_error(tmp_path):
    yml = write_job(tmp_path)
    os.chmod(yml, 0)
    assert_user_error(pjob_obeying_modes("validate", "pipeline.yml", cwd=tmp_path), "pipeline.yml", "ermission")


def test_unreadable_input_folder_is_a_user_error(tmp_path):
    write_job(tmp_path)
    os.chmod(tmp_path / "docs", 0)
    try:
        assert_user_error(pjob_obeying_modes("run", "pipeline.yml", cwd=tmp_path), "docs")
    finally:
        os.chmod(tmp_path / "docs", 0o755)


@pytest.mark.parametrize("where", ["crds-output", "runs-dir"])
def test_folders_that_are_files(tmp_path, where):
    (tmp_path / "afile").write_text("x")
    if where == "crds-output":
        proc = pjob("crds", "--output", "afile", cwd=tmp_path)
    else:
        proc = pjob("run", write_job(tmp_path), "--runs-dir", "afile", cwd=tmp_path)
    assert_user_error(proc, "afile")
    assert (tmp_path / "afile").read_text() == "x"


def test_empty_input_names_the_input_not_failed_mini_batches(tmp_path):
    yml = write_job(tmp_path, files=0)
    assert pjob("run", yml, cwd=tmp_path).returncode == 1
    text = job_result(tmp_path)
    assert "see the failed mini-batches below" not in text
    assert "docs" in text.split("why:")[1].splitlines()[0], text


def test_yaml_path_that_is_a_folder(tmp_path):
    (tmp_path / "d.yml").mkdir()
    assert_user_error(pjob("run", "d.yml", cwd=tmp_path), "d.yml", "folder")


def test_read_only_output_folder_is_reported_without_traceback(tmp_path):
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
def test_output_folders_that_are_files(tmp_path, where):
    (tmp_path / "afile").write_text("x")
    if where == "a-file":
        proc = pjob("crds", "--output", "afile", cwd=tmp_path)
    else:
        proc = pjob("run", write_job(tmp_path), "--runs-dir", "afile", cwd=tmp_path)
    assert_user_error(proc, "afile")


@pytest.mark.parametrize(
    "out",
    [
        "type: uri_file\n        path: ./docs/f00.txt",
        "type: uri_folder\n        path: ./code",
        "type: uri_file\n        path: ./pipeline.yml",
    ],
)
def test_output_overlapping_input_code_or_yaml_is_refused(tmp_path, out):
    yml = write_job(tmp_path)
    edit(yml, "      out:\n        type: uri_folder\n", f"      out:\n        {out}\n")
    original = open(yml).read()
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), "jobs.step.outputs.out.path")
    assert_user_error(pjob("run", "pipeline.yml", cwd=tmp_path), "jobs.step.outputs.out.path")
    assert (tmp_path / "docs" / "f00.txt").read_text() == "hello 0\n"
    assert open(yml).read() == original


def test_runs_dir_inside_the_input_is_not_listed_as_data(tmp_path):
    yml = write_job(tmp_path)
    proc = pjob("run", yml, "--runs-dir", "docs/runs", cwd=tmp_path)
    if proc.returncode == 0:
        rows = (tmp_path / "docs/runs/edge/steps/step/outputs/out/parallel_run_step.txt").read_text().splitlines()
        assert len(rows) == 6, rows
    else:
        assert_user_error(proc, "--runs-dir", "docs")


def test_two_outputs_with_one_path_are_refused(tmp_path):
    yml = write_job(tmp_path)
    edit(
        yml, "      out:\n        type: uri_folder\n", "      out:\n        type: uri_folder\n        path: ./results\n"
    )
    text = open(yml).read()
    head, step = text.split("jobs:\n")
    open(yml, "w").write(head + "jobs:\n" + step + step.replace("  step:", "  step2:"))
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), "outputs.out.path", "results")
