"""What the CLI says about odd but valid jobs and bad flags: MLTables checked by ``validate``,
unknown partition keys and unmapped datastores named, ``--debug`` keeping exit 2, summaries that
say when mini-batches failed, skipped steps, quoted references, a closed stdout pipe."""

import os
import subprocess

from test_cli_edges import PJOB_SCRIPT, assert_user_error, edit, pjob, write_job


def _table(folder):
    table = folder / "t"
    table.mkdir()
    (table / "x.csv").write_text("a,b\n1,2\n")
    (table / "MLTable").write_text(
        'paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n      delimiter: ","\n'
    )


def test_validate_reads_the_mltable(tmp_path):
    _table(tmp_path)
    with open(tmp_path / "t" / "MLTable", "a", encoding="utf-8") as fh:
        fh.write("  - frobnicate: {x: 1}\n")
    write_job(tmp_path, input_type="mltable", input_path="./t", mini_batch_size="1kb")
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), "MLTable", "frobnicate")


def test_unknown_partition_key_names_file_and_field(tmp_path):
    _table(tmp_path)
    yml = write_job(tmp_path, input_type="mltable", input_path="./t")
    edit(yml, 'mini_batch_size: "2"', "partition_keys: [nope]")
    assert_user_error(pjob("run", "pipeline.yml", cwd=tmp_path), "pipeline.yml:14: jobs.step.partition_keys", "nope")


def test_debug_keeps_exit_code_2_for_bad_input(tmp_path):
    proc = pjob("run", "nope.yml", "--debug", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_summary_says_when_mini_batches_failed_within_thresholds(tmp_path):
    script = (
        "def run(mini_batch):\n    if mini_batch[0].endswith('f02.txt'):\n        raise ValueError('x')\n"
        "    return mini_batch\n"
    )
    proc = pjob("run", write_job(tmp_path, script), cwd=tmp_path)
    assert proc.returncode == 0
    assert "1 failed" in proc.stdout or "failed mini-batch" in proc.stdout, proc.stdout


def test_unmapped_datastore_names_field_and_flag(tmp_path):
    yml = write_job(tmp_path, input_path="azureml://datastores/blob/paths/raw/")
    assert_user_error(pjob("run", yml, cwd=tmp_path), "pipeline.yml:9: jobs.step.inputs.docs.path", "--datastore")


def test_inspect_into_a_closed_pipe_has_no_traceback(tmp_path):
    write_job(tmp_path, files=20000)
    proc = subprocess.run(
        f"{PJOB_SCRIPT} inspect docs --mini-batch-size 1 | head -1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "Traceback" not in proc.stderr, proc.stderr


def test_quoted_reference_in_program_arguments_has_no_literal_quotes(tmp_path):
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


def test_steps_fed_by_a_failed_step_are_skipped(tmp_path):
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
