"""`pjob validate` catches what `pjob run` would: an MLTable whose ``file:``
entry names a folder is bad input at the MLTable's line, before anything runs."""

import pytest
from pjobrun import run_pjob, write
from test_inputs_check import PIPELINE


@pytest.mark.parametrize("command", ["validate", "run"])
def test_mltable_file_entry_naming_a_folder_is_bad_input(tmp_path, command):
    write(tmp_path / "table" / "parts" / "t.csv", "a,b\n1,2\n")
    write(
        tmp_path / "table" / "MLTable",
        "paths:\n  - file: ./t.csv\n  - file: ./parts\ntransformations:\n  - read_delimited: {}\n",
    )
    write(tmp_path / "table" / "t.csv", "a,b\n3,4\n")
    write(tmp_path / "code" / "s.py", "def run(mb):\n    return mb\n")
    yml = write(tmp_path / "p.yml", PIPELINE)
    args = [command, yml] + (["--runs-dir", tmp_path / "runs"] if command == "run" else [])
    proc = run_pjob(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        f"{tmp_path / 'table' / 'MLTable'}:3: paths[1].file: '{tmp_path / 'table' / 'parts'}' is a folder; "
        "write 'folder: ./parts' (every file in it) or name one file"
    ) in proc.stderr
    assert f"{yml}:9: jobs.s.inputs.t.path:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()
