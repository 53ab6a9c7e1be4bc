"""Edge cases of the local user experience, through the real ``pjob`` console
script (a subprocess per call, temp folders, real entry scripts).

The promise checked here: bad input exits 2 with a message naming the file,
field and fix and no traceback; a failing job exits 1 with ``job_result.txt``
saying why; nothing a user wrote or produced is lost. Entry-script behaviours,
Ctrl-C and concurrent runs are in test_cli_edges_run.py.
"""

import os
import subprocess
import sys

import pytest

PJOB_SCRIPT = os.path.join(os.path.dirname(sys.executable), "pjob")

PIPELINE = """\
type: pipeline
display_name: {name}
jobs:
  step:
    type: parallel
    inputs:
      docs:
        type: {input_type}
        path: {input_path}
    outputs:
      out:
        type: uri_folder
    input_data: ${{{{inputs.docs}}}}
    mini_batch_size: "{mini_batch_size}"
    max_concurrency_per_instance: 2
    retry_settings:
      max_retries: 0
      timeout: 20
    task:
      type: run_function
      code: ./code
      entry_script: score.py
      append_row_to: ${{{{outputs.out}}}}
"""
# line numbers in PIPELINE that the messages must name
LINE = {
    "path": 9,
    "input_data": 13,
    "mini_batch_size": 14,
    "max_concurrency_per_instance": 15,
    "max_retries": 17,
    "timeout": 18,
    "type": 20,
    "code": 21,
    "entry_script": 22,
    "append_row_to": 23,
}

ECHO_SCRIPT = "def run(mini_batch):\n    return list(mini_batch)\n"


def pjob(*args, cwd, timeout=120):
    """Run the installed ``pjob`` console script (``python -m pjob.cli`` if the venv has none)."""
    cmd = [PJOB_SCRIPT] if os.path.exists(PJOB_SCRIPT) else [sys.executable, "-m", "pjob.cli"]
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def write_job(
    folder, script=ECHO_SCRIPT, files=6, name="edge", mini_batch_size="2", input_type="uri_folder", input_path="./docs"
):
    """A pipeline with one parallel step over ``folder/docs`` and ``code/score.py``; returns the YAML path."""
    os.makedirs(os.path.join(folder, "docs"), exist_ok=True)
    os.makedirs(os.path.join(folder, "code"), exist_ok=True)
    for i in range(files):
        with open(os.path.join(folder, "docs", f"f{i:02d}.txt"), "w", encoding="utf-8") as fh:
            fh.write(f"hello {i}\n")
    with open(os.path.join(folder, "code", "score.py"), "w", encoding="utf-8") as fh:
        fh.write(script)
    path = os.path.join(folder, "pipeline.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            PIPELINE.format(name=name, mini_batch_size=mini_batch_size, input_type=input_type, input_path=input_path)
        )
    return path


def edit(path, old, new):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert old in text, old
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace(old, new))


def assert_user_error(proc, *needles):
    """Exit 2, every needle in stderr, no traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out, out
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


# --- the command line itself --------------------------------------------------------------------------------


def test_no_arguments_prints_usage_and_exits_2(tmp_path):
    proc = pjob(cwd=tmp_path)
    assert_user_error(proc)
    assert "run" in proc.stdout + proc.stderr and "validate" in proc.stdout + proc.stderr


def test_help_lists_the_local_commands(tmp_path):
    proc = pjob("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("run", "validate", "inspect", "replay", "crds"):
        assert command in proc.stdout


def test_unknown_subcommand_is_named(tmp_path):
    assert_user_error(pjob("frobnicate", cwd=tmp_path), "frobnicate")


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_bad_max_workers(tmp_path, value):
    yml = write_job(tmp_path)
    assert_user_error(pjob("run", yml, f"--max-workers={value}", cwd=tmp_path), "--max-workers")
    assert not os.path.exists(tmp_path / "pjob-runs" / "edge" / "steps"), "nothing may run on bad flags"


def test_bad_datastore_flag(tmp_path):
    yml = write_job(tmp_path)
    assert_user_error(pjob("run", yml, "--datastore", "foo", cwd=tmp_path), "--datastore", "NAME=PATH")


@pytest.mark.parametrize("command", ["run", "validate"])
def test_missing_yaml_is_named(tmp_path, command):
    assert_user_error(pjob(command, "nope.yml", cwd=tmp_path), "nope.yml")


@pytest.mark.parametrize("command", ["run", "validate"])
def test_empty_yaml_is_named(tmp_path, command):
    (tmp_path / "empty.yml").write_text("")
    assert_user_error(pjob(command, "empty.yml", cwd=tmp_path), "empty.yml", "type: pipeline")


@pytest.mark.parametrize(
    "content,needles",
    [
        ("display_name: caf\xe9\n".encode("latin-1"), ["bad.yml:1", "UTF-8"]),
        (b"- a\n- b\n", ["bad.yml:1", "mapping"]),
        (b"hello\n", ["bad.yml:1", "mapping"]),
    ],
    ids=["latin-1", "a-list", "a-scalar"],
)
def test_yaml_that_is_not_a_job_is_named(tmp_path, content, needles):
    (tmp_path / "bad.yml").write_bytes(content)
    assert_user_error(pjob("validate", "bad.yml", cwd=tmp_path), *needles)


# --- validate: each bad field is named at its line, with a fix ----------------------------------------------

BAD_FIELDS = [
    # (old, new, field path in the message, words of the fix)
    ('mini_batch_size: "2"', 'mini_batch_size: "two"', "jobs.step.mini_batch_size", "10kb"),
    (
        "max_concurrency_per_instance: 2",
        "max_concurrency_per_instance: 0",
        "jobs.step.max_concurrency_per_instance",
        "greater than or equal to 1",
    ),
    ("timeout: 20", "timeout: 0", "jobs.step.retry_settings.timeout", "greater than 0"),
    ("max_retries: 0", "max_retries: -1", "jobs.step.retry_settings.max_retries", "greater than or equal to 0"),
    ("entry_script: score.py", "entry_script: nope.py", "jobs.step.task.entry_script", "nope.py"),
    ("entry_script: score.py", "entry_script: ../pipeline.yml", "jobs.step.task.entry_script", "inside the code"),
    ("code: ./code", "code: ./nocode", "jobs.step.task.code", "nocode"),
    ("path: ./docs", "path: ./nodocs", "jobs.step.inputs.docs.path", "nodocs"),
    ("type: run_function", "type: run_bogus", "jobs.step.task.type", "run_function"),
    ("input_data: ${{inputs.docs}}", "input_data: ${{inputs.doc}}", "jobs.step.input_data", "docs"),
    ("append_row_to: ${{outputs.out}}", "append_row_to: ${{outputs.ot}}", "jobs.step.task.append_row_to", "out"),
]


@pytest.mark.parametrize("old,new,field,fix", BAD_FIELDS, ids=[b[2] + ":" + b[1][-8:] for b in BAD_FIELDS])
def test_validate_names_file_line_field_and_fix(tmp_path, old, new, field, fix):
    yml = write_job(tmp_path)
    edit(yml, old, new)
    key = old.split(":")[0].strip()
    proc = pjob("validate", "pipeline.yml", cwd=tmp_path)
    assert_user_error(proc, f"pipeline.yml:{LINE[key]}: {field}", fix)


@pytest.mark.parametrize(
    "flags,needle",
    [
        ("--error_threshold abc", "--error_threshold"),
        ("--allowed_failed_percent 150", "--allowed_failed_percent"),
        ("--task_overhead_timeout -5", "--task_overhead_timeout"),
    ],
)
def test_validate_bad_runtime_flag_in_program_arguments(tmp_path, flags, needle):
    yml = write_job(tmp_path)
    edit(yml, "      type: run_function\n", f"      type: run_function\n      program_arguments: {flags}\n")
    assert_user_error(
        pjob("validate", "pipeline.yml", cwd=tmp_path), "pipeline.yml:21: jobs.step.task.program_arguments", needle
    )


def test_validate_misspelt_top_level_key_suggests_the_right_one(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, "jobs:", "jobz:")
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), "jobz", "did you mean 'jobs'")


def test_validate_yaml_syntax_error_names_the_line(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, "    input_data", "   input_data")
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), "pipeline.yml:13", "YAML syntax")


def test_validate_duplicate_key_is_not_silently_dropped(tmp_path):
    yml = write_job(tmp_path)
    edit(
        yml,
        "    max_concurrency_per_instance: 2\n",
        "    max_concurrency_per_instance: 2\n    max_concurrency_per_instance: 4\n",
    )
    assert_user_error(
        pjob("validate", "pipeline.yml", cwd=tmp_path),
        "pipeline.yml:16: jobs.step.max_concurrency_per_instance",
        "duplicate",
    )


def test_run_with_a_bad_field_runs_nothing(tmp_path):
    yml = write_job(tmp_path)
    edit(yml, 'mini_batch_size: "2"', 'mini_batch_size: "two"')
    assert_user_error(pjob("run", "pipeline.yml", cwd=tmp_path), "pipeline.yml:14: jobs.step.mini_batch_size")
    assert not os.path.exists(tmp_path / "pjob-runs")


# --- inspect --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--type", "bogus"], ["--type", "bogus"]),
        (["--mini-batch-size", "garbage"], ["garbage", "10mb"]),
        (["--mini-batch-size", "0"], ["'0'", "at least 1"]),
        (["--mini-batch-size", "-3"], ["-3"]),
        (["--mini-batch-size", "10kb"], ["10kb", "number of files"]),
        (["--partition-keys", "a,b"], ["partition_keys", "tabular", "MLTable"]),
        (["--mini-batch-size", "2", "--partition-keys", "a"], ["not allowed with"]),
        (["--type", "uri_file"], ["uri_file", "is a folder", "uri_folder"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0].startswith("-") else None,
)
def test_inspect_bad_options_on_a_file_folder(tmp_path, args, needles):
    write_job(tmp_path)
    assert_user_error(pjob("inspect", "docs", *args, cwd=tmp_path), *needles)


def test_inspect_missing_path_is_named(tmp_path):
    assert_user_error(pjob("inspect", "no-such-folder", cwd=tmp_path), "no-such-folder", "does not exist")


def test_inspect_empty_folder_plans_zero_mini_batches(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = pjob("inspect", "empty", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "mini-batches: 0" in proc.stdout


# --- MLTable ---------------------------------------------------------------------------------------------------

MLTABLE_CASES = [
    (
        'transformations:\n  - read_delimited:\n      delimiter: ",,"\n',
        ["MLTable", "transformations[0].read_delimited.delimiter", "single character"],
    ),
    (
        'transformations:\n  - read_delimited:\n      delimiter: ","\n  - frobnicate: {x: 1}\n',
        ["MLTable", "transformations[1].frobnicate", "not supported", "read_delimited"],
    ),
    (
        'transformations:\n  - read_delimited:\n      delimiter: ","\n      encodng: utf8\n',
        ["MLTable", "encodng", "encoding"],
    ),
]


def _mltable(folder, transformations):
    table = os.path.join(folder, "t")
    os.makedirs(table, exist_ok=True)
    with open(os.path.join(table, "x.csv"), "w", encoding="utf-8") as fh:
        fh.write("a,b\n1,2\n3,4\n")
    with open(os.path.join(table, "MLTable"), "w", encoding="utf-8") as fh:
        fh.write("paths:\n  - file: ./x.csv\n" + transformations)


@pytest.mark.parametrize("transformations,needles", MLTABLE_CASES, ids=["delimiter", "unknown-step", "option"])
def test_inspect_bad_mltable_names_the_step(tmp_path, transformations, needles):
    _mltable(tmp_path, transformations)
    assert_user_error(pjob("inspect", "t", cwd=tmp_path), *needles)


def test_inspect_mltable_that_is_not_yaml(tmp_path):
    _mltable(tmp_path, "")
    (tmp_path / "t" / "MLTable").write_text("paths: [\n")
    assert_user_error(
        pjob("inspect", "t", cwd=tmp_path), "MLTable:", "YAML syntax error", "fix the YAML syntax at this line"
    )


def test_run_with_unsupported_mltable_step_exits_2_before_running(tmp_path):
    _mltable(tmp_path, MLTABLE_CASES[1][0])
    yml = write_job(tmp_path, input_type="mltable", input_path="./t", mini_batch_size="1kb")
    proc = pjob("run", yml, cwd=tmp_path)
    assert_user_error(proc, "MLTable", "frobnicate")
    assert not os.path.exists(
        tmp_path / "pjob-runs" / "edge" / "steps" / "step" / "outputs" / "out" / "parallel_run_step.txt"
    )


# --- replay and crds -------------------------------------------------------------------------------------------


def test_replay_bad_arguments(tmp_path):
    yml = write_job(tmp_path)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    run_dir = tmp_path / "pjob-runs" / "edge"
    assert_user_error(pjob("replay", run_dir, "--mini-batch", "99", cwd=tmp_path), "mini-batch 99", "0..2")
    assert_user_error(pjob("replay", run_dir, "--mini-batch", "0", "--step", "nope", cwd=tmp_path), "nope", "step")
    assert_user_error(
        pjob("replay", tmp_path / "pjob-runs", "--mini-batch", "0", cwd=tmp_path), "not a pjob run folder"
    )
    assert_user_error(pjob("replay", run_dir, "--mini-batch", "abc", cwd=tmp_path), "--mini-batch")
    replay = pjob("replay", run_dir, "--mini-batch", "1", cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    assert "f02.txt" in replay.stdout and "f03.txt" in replay.stdout


def test_crds_writes_both_definitions(tmp_path):
    proc = pjob("crds", "--output", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["paralleljobs.pjob.dev.yaml", "pipelinejobs.pjob.dev.yaml"]


CYCLE = """\
type: pipeline
display_name: cyc
jobs:
  a:
    type: command
    command: ls ${{inputs.x}}
    inputs:
      x: ${{parent.jobs.b.outputs.o}}
    outputs:
      o: {type: uri_folder}
  b:
    type: command
    command: ls ${{inputs.x}}
    inputs:
      x: ${{parent.jobs.a.outputs.o}}
    outputs:
      o: {type: uri_folder}
"""


@pytest.mark.parametrize(
    "text,needles",
    [
        (CYCLE, ["p.yml:3: jobs", "cycle a -> b -> a"]),
        ("type: pipeline\njobs: {}\n", ["p.yml:2: jobs", "at least one step"]),
        (
            'type: pipeline\ndisplay_name: x\njobs:\n  a:\n    type: command\n    command: ""\n',
            ["p.yml:6: jobs.a.command", "needs command"],
        ),
    ],
    ids=["cycle", "no-steps", "empty-command"],
)
def test_pipeline_shape_errors_run_nothing(tmp_path, text, needles):
    (tmp_path / "p.yml").write_text(text)
    assert_user_error(pjob("run", "p.yml", cwd=tmp_path), *needles)
    assert not os.path.exists(tmp_path / "pjob-runs" / "cyc" / "steps")


@pytest.mark.parametrize(
    "old,new,needles",
    [
        ("input_data: ${{inputs.docs}}", "input_data: ./docs", ["pipeline.yml:13: jobs.step.input_data", "${{inputs."]),
        (
            "        path: ./docs\n    outputs",
            "        path: ./docs\n      t: 5\n    outputs",
            ["jobs.step.inputs.t", "type (uri_folder, uri_file, mltable)"],
        ),
    ],
    ids=["literal-path", "literal-value"],
)
def test_input_data_must_name_a_data_input(tmp_path, old, new, needles):
    yml = write_job(tmp_path)
    edit(yml, old, new)
    if "t: 5" in new:
        edit(yml, "input_data: ${{inputs.docs}}", "input_data: ${{inputs.t}}")
    assert_user_error(pjob("validate", "pipeline.yml", cwd=tmp_path), *needles)


COMMAND_JOB = (
    "type: pipeline\ndisplay_name: cmdjob\njobs:\n  prep:\n    type: command\n"
    "    command: echo start >> ${{outputs.o}}/log.txt && sleep 2 && echo done >> ${{outputs.o}}/log.txt\n"
    "    outputs: {o: {type: uri_folder}}\n"
)
