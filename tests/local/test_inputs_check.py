"""`pjob validate` and `pjob run` read the MLTable files local inputs point at,
so an unsupported transformation is bad input before anything runs."""

import pytest
from pjobrun import run_pjob, write

PIPELINE = """type: pipeline
name: mlt
jobs:
  s:
    type: parallel
    inputs:
      t:
        type: mltable
        path: ./table
    input_data: ${{inputs.t}}
    task:
      code: ./code
      entry_script: s.py
"""


@pytest.mark.parametrize("command", ["validate", "run"])
def test_unsupported_mltable_transformation_is_bad_input(tmp_path, command):
    write(tmp_path / "table" / "t.csv", "a,b\n1,2\n")
    write(
        tmp_path / "table" / "MLTable",
        "paths:\n  - file: ./t.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n  - frobnicate:\n      x: 1\n",
    )
    write(
        tmp_path / "code" / "s.py",
        "import os\ndef init():\n    open(os.environ.get('HOME', '/tmp') + '/never', 'w')\ndef run(mb):\n    return mb\n",
    )
    yml = write(tmp_path / "p.yml", PIPELINE)
    args = [command, yml] + (["--runs-dir", tmp_path / "runs"] if command == "run" else [])
    proc = run_pjob(*args)
    assert proc.returncode == 2, proc.stderr
    assert (
        f"{tmp_path / 'table' / 'MLTable'}:6: transformations[1].frobnicate: transformation 'frobnicate' is not supported"
        in proc.stderr
    )
    assert f"{yml}:9: jobs.s.inputs.t.path:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_entry_script_syntax_error_is_bad_input_at_its_line(tmp_path):
    write(tmp_path / "table" / "t.csv", "a,b\n1,2\n")
    write(
        tmp_path / "table" / "MLTable",
        "paths:\n  - file: ./t.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n",
    )
    write(tmp_path / "code" / "s.py", "import os\n\ndef run(mb)\n    return mb\n")
    yml = write(tmp_path / "p.yml", PIPELINE)
    proc = run_pjob("validate", yml)
    assert proc.returncode == 2
    assert f"{tmp_path / 'code' / 's.py'}:3: syntax error in the entry script" in proc.stderr
    assert f"{yml}:13: jobs.s.task.entry_script: the entry script does not compile" in proc.stderr


def test_file_uri_inputs_get_the_same_checks_as_plain_paths(tmp_path):
    write(tmp_path / "code" / "s.py", "def init():\n    pass\n\ndef run(mb):\n    return mb\n")
    yml = write(tmp_path / "p.yml", PIPELINE.replace("path: ./table", f"path: file://{tmp_path / 'missing'}"))
    proc = run_pjob("validate", yml)
    assert proc.returncode == 2
    assert f"{yml}:9: jobs.s.inputs.t.path: input path 'file://{tmp_path / 'missing'}' does not exist" in proc.stderr


def test_an_output_on_a_datastore_that_is_an_object_store_is_bad_input(tmp_path):
    # it used to be written to a local folder named "s3:" and reported as written to the bucket
    write(tmp_path / "data" / "a.txt", "1\n")
    write(tmp_path / "code" / "s.py", "def init():\n    pass\ndef run(mb):\n    return mb\n")
    yml = write(
        tmp_path / "p.yml",
        """type: pipeline
name: objout
jobs:
  s:
    type: parallel
    inputs:
      d: {type: uri_folder, path: ./data}
    outputs:
      out: {type: uri_file, path: azureml://datastores/blob/paths/out.txt}
    input_data: ${{inputs.d}}
    task:
      code: ./code
      entry_script: s.py
      append_row_to: ${{outputs.out}}
""",
    )
    assert run_pjob("validate", yml).returncode == 0  # where the datastore is, is only known when it runs
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs", "--datastore", "blob=s3://bucket/pjob", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"{yml}:9: jobs.s.outputs.out: s3://bucket/pjob/out.txt is an object store" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "s3:").exists()
