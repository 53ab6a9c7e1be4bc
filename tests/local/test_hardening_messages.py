"""Every failure names its cause, through the real ``pjob`` console script:
init() failures show the exception, threshold failures say how to re-run,
Ctrl-C and SIGTERM say how to resume, OS errors name the path, a closed pipe
ends quietly, YAML errors point where the mistake starts, an empty input path
and a header-only CSV are named for what they are. And loosely typed values
(true for a number, a list for an environment variable, text converted to
int, an output folder holding the job) are refused at FILE:LINE.
"""

import os
import signal
import subprocess
import sys

import pytest
from test_cli_edges import PJOB_SCRIPT, edit, pjob, write_job
from test_cli_edges_run import _start_slow_run, job_result, output_lines


def _said(proc) -> str:
    return proc.stdout + proc.stderr


# --- 8. messages -------------------------------------------------------------------------------------------------

INIT_FAILS = """\
def init():
    load_model()

def load_model():
    raise RuntimeError("cannot load the model")

def run(mini_batch):
    return mini_batch
"""


def test_an_init_failure_shows_the_exception_and_where_in_the_terminal(tmp_path):
    proc = pjob("run", write_job(tmp_path, INIT_FAILS), cwd=tmp_path)
    assert proc.returncode == 1, _said(proc)
    summary = next(line for line in proc.stdout.splitlines() if "init() failed" in line)
    assert "RuntimeError: cannot load the model" in summary, summary
    assert f'File "{tmp_path / "code" / "score.py"}", line 2, in init' in summary, summary


def test_a_threshold_failure_says_to_retry_the_failed_mini_batches(tmp_path):
    yml = write_job(tmp_path, "def run(mini_batch):\n    raise ValueError('bad row')\n")
    edit(
        yml,
        "    max_concurrency_per_instance: 2\n",
        "    max_concurrency_per_instance: 2\n    mini_batch_error_threshold: 0\n",
    )
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 1, _said(proc)
    assert "--retry-failed" in job_result(tmp_path)
    assert "--retry-failed" in next(line for line in proc.stdout.splitlines() if "Failed -" in line)


@pytest.mark.parametrize("how,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_say_how_to_resume(tmp_path, how, code, word):
    yml, proc = _start_slow_run(tmp_path)
    os.killpg(proc.pid, how) if how == signal.SIGINT else proc.send_signal(how)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, out + err
    assert f"{word}; run the same command again to resume" in err, err
    assert "Traceback" not in out + err
    resumed = pjob("run", yml, cwd=tmp_path)
    assert resumed.returncode == 0, _said(resumed)
    assert output_lines(tmp_path) == [f"f{i:02d}.txt" for i in range(16)]


def test_an_unreachable_https_input_names_the_url_and_its_line(tmp_path):
    yml = write_job(tmp_path, input_path="https://nonexistent.invalid/data/")
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 2, _said(proc)
    assert "pipeline.yml:9: jobs.step.inputs.docs.path: cannot read https://nonexistent.invalid/data/" in proc.stderr, (
        proc.stderr
    )
    assert "Traceback" not in _said(proc)


def test_a_closed_pipe_ends_quietly(tmp_path):
    yml = write_job(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`| head -1`) is gone before pjob writes a word
    cmd = [PJOB_SCRIPT] if os.path.exists(PJOB_SCRIPT) else [sys.executable, "-m", "pjob.cli"]
    proc = subprocess.run(
        cmd + ["validate", yml], cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60
    )
    os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode != 2


def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, 'mini_batch_size: "2"', 'mini_batch_size: "2')
    proc = pjob("validate", yml, cwd=tmp_path)
    assert proc.returncode == 2, _said(proc)
    assert "pipeline.yml:14:" in proc.stderr and "not closed" in proc.stderr, proc.stderr


def test_an_empty_input_path_is_blamed_on_the_input(tmp_path):
    yml = write_job(tmp_path, input_path='""')
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 2, _said(proc)
    assert "pipeline.yml:9: jobs.step.inputs.docs.path: the path of an input is empty" in proc.stderr, proc.stderr
    assert "runs-dir" not in proc.stderr


def test_a_csv_with_only_a_header_says_so(tmp_path):
    yml = write_job(tmp_path, files=0, input_type="mltable", input_path="./t", mini_batch_size="1kb")
    os.makedirs(tmp_path / "t")
    (tmp_path / "t" / "x.csv").write_text("id,name\n")
    (tmp_path / "t" / "MLTable").write_text(
        "paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n"
    )
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 1, _said(proc)
    assert "x.csv: only a header line (id, name), no rows" in proc.stdout, proc.stdout
    assert "only a header line" in job_result(tmp_path)


# --- 9. loose types ----------------------------------------------------------------------------------------------


def test_true_is_not_a_number_of_workers(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, "max_concurrency_per_instance: 2", "max_concurrency_per_instance: true")
    proc = pjob("validate", yml, cwd=tmp_path)
    assert proc.returncode == 2, _said(proc)
    assert "pipeline.yml:15: jobs.step.max_concurrency_per_instance: got true, a boolean; give a number" in proc.stderr


def test_a_list_is_not_an_environment_variable(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, "    input_data:", "    environment_variables:\n      IDS: [1, 2]\n    input_data:")
    proc = pjob("validate", yml, cwd=tmp_path)
    assert proc.returncode == 2, _said(proc)
    assert "pipeline.yml:13: jobs.step.environment_variables: IDS: got a list" in proc.stderr, proc.stderr


def test_text_converted_to_int_is_refused_naming_the_file_and_the_step(tmp_path):
    yml = write_job(
        tmp_path,
        "def run(df):\n    return df\n",
        files=0,
        input_type="mltable",
        input_path="./t",
        mini_batch_size="1kb",
    )
    os.makedirs(tmp_path / "t")
    (tmp_path / "t" / "x.csv").write_text("a,b\n1,x\n2,y\nthree,z\n")
    (tmp_path / "t" / "MLTable").write_text(
        "paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n"
        "  - convert_column_types:\n      - columns: a\n        column_type: int\n"
    )
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 1, _said(proc)
    text = job_result(tmp_path)
    assert f"{tmp_path / 't' / 'MLTable'}:6: transformations[1].convert_column_types" in text, text
    assert str(tmp_path / "t" / "x.csv") in text and "'three'" in text and "not a whole number" in text, text


def test_an_output_folder_that_holds_the_job_is_refused(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, "      out:\n        type: uri_folder\n", "      out:\n        type: uri_folder\n        path: ./\n")
    proc = pjob("validate", yml, cwd=tmp_path)
    assert proc.returncode == 2, _said(proc)
    assert "pipeline.yml:13: jobs.step.outputs.out.path: ./ is a folder that holds" in proc.stderr, proc.stderr
