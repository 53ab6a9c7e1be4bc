"""Data pjob cannot read, through real ``pjob run`` / ``pjob inspect``
processes over real files: found while planning it is bad input (exit 2,
the data file and the MLTable line named, no traceback, a consistent run
state); found while running it fails only the mini-batches of that file,
and job_result.txt names the file and the MLTable line.
"""

import json
import os

import pytest
from test_cli_edges import pjob

JOB = """\
type: pipeline
display_name: data
jobs:
  step:
    type: parallel
    inputs:
      t:
        type: mltable
        path: ./t
    outputs:
      out:
        type: uri_folder
    input_data: ${{inputs.t}}
    mini_batch_size: "1kb"
    max_concurrency_per_instance: 2
    retry_settings:
      max_retries: 0
    task:
      type: run_function
      code: ./code
      entry_script: score.py
      append_row_to: ${{outputs.out}}
"""

PARQUET_MLTABLE = "paths:\n  - pattern: ./*.parquet\ntransformations:\n  - read_parquet\n"  # the reader: line 4


def _job(folder, mltable: str) -> str:
    os.makedirs(os.path.join(folder, "t"), exist_ok=True)
    os.makedirs(os.path.join(folder, "code"), exist_ok=True)
    with open(os.path.join(folder, "t", "MLTable"), "w", encoding="utf-8") as fh:
        fh.write(mltable)
    with open(os.path.join(folder, "code", "score.py"), "w", encoding="utf-8") as fh:
        fh.write("def run(df):\n    return df\n")
    with open(os.path.join(folder, "pipeline.yml"), "w", encoding="utf-8") as fh:
        fh.write(JOB)
    return os.path.join(folder, "pipeline.yml")


def _parquet(path, rows=1000, row_group_size=250):
    import pandas
    import pyarrow
    import pyarrow.parquet

    frame = pandas.DataFrame({"a": range(rows), "b": [f"text {i} " * 5 for i in range(rows)]})
    pyarrow.parquet.write_table(
        pyarrow.Table.from_pandas(frame), str(path), row_group_size=row_group_size, compression="none"
    )


BROKEN = {
    "truncated": lambda good: good[:300],
    "not-parquet": lambda good: b"id,name\n1,x\n",
    "empty": lambda good: b"",
}


@pytest.mark.parametrize("how", list(BROKEN))
@pytest.mark.parametrize("command", ["run", "inspect"])
def test_a_data_file_that_cannot_be_read_while_planning_is_bad_input_naming_it(tmp_path, how, command):
    yml = _job(tmp_path, PARQUET_MLTABLE)
    _parquet(tmp_path / "t" / "good.parquet")
    (tmp_path / "t" / "broken.parquet").write_bytes(BROKEN[how]((tmp_path / "t" / "good.parquet").read_bytes()))
    args = ("run", yml) if command == "run" else ("inspect", "./t", "--mini-batch-size", "1kb")
    proc = pjob(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    error = proc.stderr
    assert str(tmp_path / "t" / "broken.parquet") in error, error
    assert f"{tmp_path / 't' / 'MLTable'}:4" in error and "read_parquet" in error, error
    assert "replace or remove the file" in error
    if command == "run":
        with open(tmp_path / "pjob-runs" / "data" / "state.json", encoding="utf-8") as fh:
            assert "Running" not in json.dumps(json.load(fh))


def test_a_data_file_that_fails_while_running_fails_only_its_mini_batches(tmp_path):
    import pyarrow.parquet

    yml = _job(tmp_path, PARQUET_MLTABLE)
    _parquet(tmp_path / "t" / "a_good.parquet")
    _parquet(tmp_path / "t" / "b_bad.parquet")
    bad = tmp_path / "t" / "b_bad.parquet"
    offset = pyarrow.parquet.ParquetFile(bad).metadata.row_group(0).column(1).data_page_offset
    data = bytearray(bad.read_bytes())
    data[offset : offset + 64] = b"\xff" * 64  # one row group's page: the footer (planning) is intact
    bad.write_bytes(bytes(data))
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    step = tmp_path / "pjob-runs" / "data" / "steps" / "step"
    rows = (step / "outputs" / "out" / "parallel_run_step.txt").read_text().splitlines()
    assert len(rows) == 1000 + 750  # every row of the good file and of the bad file's intact row groups
    result = (step / "logs" / "job_result.txt").read_text()
    assert "items:        1750 succeeded, 250 failed" in result, result
    assert str(bad) in result and f"{tmp_path / 't' / 'MLTable'}:4" in result, result
    assert "Traceback" not in result


@pytest.mark.parametrize("where", ["planning", "running"])
def test_an_undecodable_csv_names_the_data_file_and_the_mltable_line(tmp_path, where):
    yml = _job(
        tmp_path,
        "paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n"
        "      delimiter: ','\n      encoding: utf8\n",
    )
    # in the sample planning decodes, or only in the last bytes (a prefix may end inside a character)
    text = b"a,b\n1,caf\xe9 au lait\n2,x\n" if where == "planning" else b"a,b\n1,x\n2,caf\xe9\n"
    (tmp_path / "t" / "x.csv").write_bytes(text)
    proc = pjob("run", yml, cwd=tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr
    if where == "planning":
        assert proc.returncode == 2, proc.stdout + proc.stderr
        message = proc.stderr
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        message = (tmp_path / "pjob-runs" / "data" / "steps" / "step" / "logs" / "job_result.txt").read_text()
    assert str(tmp_path / "t" / "x.csv") in message, message
    assert f"{tmp_path / 't' / 'MLTable'}:6: transformations[0].read_delimited.encoding" in message, message


# --- 10. inputs that are not regular files --------------------------------------------------------------------------


def test_entries_that_are_not_regular_files_are_skipped_and_said_once(tmp_path):
    from test_cli_edges import write_job

    yml = write_job(tmp_path, files=3)
    docs = tmp_path / "docs"
    os.symlink(tmp_path / "nowhere", docs / "a_dangling")
    os.symlink("b_loop2", docs / "b_loop1")
    os.symlink("b_loop1", docs / "b_loop2")
    os.mkfifo(docs / "c_pipe")
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = (
        "4 entries of the input skipped, not regular files: a_dangling (dangling symlink), "
        "b_loop1 (symlink loop), b_loop2 (symlink loop) and 1 more"
    )
    assert (proc.stdout + proc.stderr).count(said) == 1, proc.stdout + proc.stderr
    step = tmp_path / "pjob-runs" / "edge" / "steps" / "step"
    assert (step / "logs" / "sys" / "master_role.txt").read_text().count(said) == 1
    assert said in (step / "logs" / "job_result.txt").read_text()
    assert len((step / "outputs" / "out" / "parallel_run_step.txt").read_text().splitlines()) == 3
