"""Malformed pipelines through ``pjob validate``: YAML syntax, the document
shape, pipeline-level keys, step types, command steps, component files, the
step DAG, and single-step (``type: parallel``) job files. Each case mutates
the seed text (or replaces it), runs ``pjob.cli.main`` in-process (a few as
real processes) and checks exit 2, file, line, field path and message, and
that no traceback is shown. Parallel-step field cases are in
``test_validate_malformed.py``.
"""

from __future__ import annotations

import os

import pytest
import spec_testlib as lib
from spec_testlib import Case, append, sub, whole

MBS = 'mini_batch_size: "10kb"'
SCORE_PATH = "path: ./iris-model"
SINGLE = lib.read(os.path.join(lib.PROJECT_DIR, "single_parallel.yml"))


def single(old: str, new: str) -> lib.Mutation:
    """Replace the seed by the single ``type: parallel`` job, then mutate that."""
    return lib.chain(whole(SINGLE), sub(old, new))


def command_step(name: str, body: str) -> str:
    """A ``type: command`` step to append under the seed's ``jobs:``."""
    indented = "".join("    " + line + "\n" for line in body.strip("\n").splitlines())
    return f"  {name}:\n    type: command\n{indented}"


CYCLE = command_step(
    "step_a",
    """
command: echo ${{inputs.x}} > ${{outputs.o}}/a
inputs:
  x: ${{parent.jobs.step_b.outputs.o}}
outputs:
  o:
    type: uri_folder
""",
) + command_step(
    "step_b",
    """
command: echo ${{inputs.x}} > ${{outputs.o}}/b
inputs:
  x: ${{parent.jobs.step_a.outputs.o}}
outputs:
  o:
    type: uri_folder
""",
)
PREP = command_step(
    "prep",
    """
command: echo hi > ${{outputs.o}}/x
outputs:
  o:
    type: uri_folder
""",
)
RAW = "inputs:\n  raw_data:\n    type: uri_folder\n    path: ./raw-data\n"
LITERAL_SPLIT = """type: pipeline
inputs:
  n: 5
jobs:
  a:
    type: parallel
    inputs:
      d: ${{parent.inputs.n}}
    input_data: ${{inputs.d}}
    task: {code: ./score_src, entry_script: score.py}
"""
TWO_WRITERS = """type: pipeline
outputs:
  result: {type: uri_folder}
jobs:
  a:
    type: command
    command: echo a > ${{outputs.o}}/a
    outputs:
      o: ${{parent.outputs.result}}
  b:
    type: command
    command: echo b > ${{outputs.o}}/b
    outputs:
      o: ${{parent.outputs.result}}  # second writer
"""
FLOW_STEP = """  flow:
    type: parallel
    inputs: {d: {type: uri_folder, path: ./iris-model}}
    input_data: ${{inputs.d}}
    task: {code: ./script, entry_script: iris_prediction.py}
"""
COMPONENT_HEAD = (
    "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\ntype: command\nname: bad\n"
)

CASES = [
    # YAML syntax and document shape
    Case("yaml_mapping_in_value", sub(MBS, "mini_batch_size: 10kb: x"), "", "YAML syntax error", r"mini_batch_size:"),
    Case(
        "yaml_bad_indent",
        sub("    max_concurrency_per_instance: 2", "   max_concurrency_per_instance: 2"),
        "",
        "YAML syntax error",
        r"max_concurrency_per_instance:",
    ),
    Case(
        "yaml_tab_indent",
        sub("    max_concurrency_per_instance: 2", "\tmax_concurrency_per_instance: 2"),
        "",
        "YAML syntax error",
        r"max_concurrency_per_instance:",
    ),
    Case("top_level_list", whole("- type: pipeline\n- jobs: {}\n"), "", "must be a mapping", r"^- type"),
    Case("top_level_scalar", whole("just some text\n"), "", "must be a mapping", r"^just"),
    Case("empty_file", whole(""), "", "must be a mapping", None),
    Case("comments_only", whole("# nothing here yet\n"), "", "must be a mapping", None),
    Case(
        "top_type_unknown", sub("type: pipeline", "type: pipelines"), "type", "unknown job type 'pipelines'", r"^type:"
    ),
    Case(
        "top_key_misspelt",
        sub("display_name:", "dispaly_name:"),
        "dispaly_name",
        "did you mean 'display_name'?",
        r"^dispaly_name:",
    ),
    Case(
        "settings_key_misspelt",
        sub("default_compute:", "default_compte:"),
        "settings.default_compte",
        "did you mean 'default_compute'?",
        r"default_compte:",
    ),
    Case("jobs_misspelt", sub("\njobs:", "\njbos:"), "jbos", "did you mean 'jobs'?", r"^jbos:"),
    Case(
        "tags_not_mapping",
        sub("tags:\n  tag: tagvalue\n  owner: sdkteam\n", "tags: [tagvalue, sdkteam]\n"),
        "tags",
        "[",
        r"^tags:",
    ),
    Case(
        "pipeline_input_type_unknown",
        sub("\njobs:", "\ninputs:\n  raw:\n    type: tabular\n    path: ./raw-data\n\njobs:"),
        "inputs.raw.type",
        "'tabular'",
        r"type: tabular",
    ),
    Case(
        "pipeline_input_path_missing",
        sub("\njobs:", "\ninputs:\n  raw:\n    type: uri_folder\n    path: ./no-raw\n\njobs:"),
        "inputs.raw.path",
        "'./no-raw' does not exist",
        r"path: ./no-raw",
    ),
    Case(
        "pipeline_output_file_is_a_folder",
        sub("\njobs:", "\noutputs:\n  result:\n    type: uri_file\n    path: ./raw-data\n\njobs:"),
        "outputs.result.path",
        "is a folder but type uri_file",
        r"path: ./raw-data",
    ),
    # step types
    Case(
        "step_type_missing",
        sub("    type: parallel\n", ""),
        "jobs.batch_prediction.type",
        "no 'type'",
        r"^  batch_prediction:",
    ),
    # the step DAG
    Case("cycle_two_command_steps", append(CYCLE), "jobs", "dependency cycle", r"^jobs:"),
    Case(
        "cycle_through_parallel_step",
        lib.chain(
            sub(SCORE_PATH, "path: ${{parent.jobs.prep.outputs.o}}"),
            append(
                command_step(
                    "prep",
                    """
command: echo ${{inputs.x}} > ${{outputs.o}}/x
inputs:
  x: ${{parent.jobs.batch_prediction.outputs.job_output_file}}
outputs:
  o:
    type: uri_folder
""",
                )
            ),
        ),
        "jobs",
        "dependency cycle",
        r"^jobs:",
    ),
    Case(
        "parent_jobs_no_such_output",
        lib.chain(sub(SCORE_PATH, "path: ${{parent.jobs.prep.outputs.nope}}"), append(PREP)),
        "jobs.batch_prediction.inputs.score_model.path",
        "step 'prep' has no output 'nope'",
        r"outputs.nope",
    ),
    # inline command steps
    Case(
        "command_neither_command_nor_component",
        append(command_step("idle", "code: ./prep_src")),
        "jobs.idle.command",
        "needs command",
        r"^  idle:",
    ),
    Case(
        "command_and_component",
        append(command_step("both", "command: echo hi\ncomponent: ./prep.yml\n" + RAW)),
        "jobs.both.command",
        "not both",
        r"command: echo hi",
    ),
    Case(
        "command_code_missing",
        append(command_step("prep", "code: ./no-src\ncommand: python prep.py")),
        "jobs.prep.code",
        "'./no-src' does not exist",
        r"code: ./no-src",
    ),
    Case(
        "command_unknown_input",
        append(command_step("prep", "command: cat ${{inputs.nope}}")),
        "jobs.prep.command",
        "${{inputs.nope}} names no input",
        r"command: cat",
    ),
    Case(
        "command_output_parent_unknown",
        append(command_step("prep", "command: echo hi\noutputs:\n  o: ${{parent.outputs.nope}}")),
        "jobs.prep.outputs.o",
        "${{parent.outputs.nope}} names no pipeline output",
        r"o: \$\{\{parent",
    ),
    Case(
        "command_input_path_missing",
        append(
            command_step(
                "prep", "command: ls ${{inputs.raw}}\ninputs:\n  raw:\n    type: uri_folder\n    path: ./no-raw"
            )
        ),
        "jobs.prep.inputs.raw.path",
        "'./no-raw' does not exist",
        r"path: ./no-raw",
    ),
    Case(
        "command_as_list",
        append(command_step("prep", "command: [echo, hi]")),
        "jobs.prep.command",
        "valid string",
        r"command: \[echo",
    ),
    Case(
        "command_key_misspelt",
        append(command_step("prep", "comand: echo hi")),
        "jobs.prep.comand",
        "did you mean 'command'?",
        r"comand:",
    ),
    # component files
    Case(
        "component_file_missing",
        append(command_step("prep", "component: ./nope.yml")),
        "jobs.prep.component",
        "'./nope.yml' not found",
        r"component: ./nope.yml",
    ),
    Case(
        "component_unknown_input",
        append(command_step("prep", "component: ./prep.yml\n" + RAW + "  bogus: 1")),
        "jobs.prep.inputs.bogus",
        "has no input 'bogus'",
        r"bogus:",
    ),
    Case(
        "component_required_input_unbound",
        append(command_step("prep", "component: ./prep.yml")),
        "jobs.prep.inputs",
        "'raw_data'",
        r"^  prep:",
    ),
    Case(
        "component_yaml_error",
        append(command_step("prep", "component: ./comp_yaml_error.yml")),
        "",
        "YAML syntax error",
        r"command: a: b",
        extra={"comp_yaml_error.yml": COMPONENT_HEAD + "command: a: b\n"},
        error_file="comp_yaml_error.yml",
    ),
    Case(
        "component_without_command",
        append(command_step("prep", "component: ./comp_no_command.yml")),
        "command",
        "missing",
        r"^\$schema",
        extra={"comp_no_command.yml": COMPONENT_HEAD + "inputs: {}\n"},
        error_file="comp_no_command.yml",
    ),
    Case(
        "component_key_misspelt",
        append(command_step("prep", "component: ./comp_misspelt.yml")),
        "input",
        "did you mean 'inputs'?",
        r"^input:",
        extra={"comp_misspelt.yml": COMPONENT_HEAD + "input:\n  x:\n    type: string\ncommand: echo hi\n"},
        error_file="comp_misspelt.yml",
    ),
    Case(
        "component_input_type_unknown",
        append(command_step("prep", "component: ./comp_bad_type.yml")),
        "inputs.x.type",
        "'text'",
        r"type: text",
        extra={"comp_bad_type.yml": COMPONENT_HEAD + "inputs:\n  x:\n    type: text\ncommand: echo hi\n"},
        error_file="comp_bad_type.yml",
    ),
    Case(
        "component_not_mapping",
        append(command_step("prep", "component: ./comp_list.yml")),
        "",
        "must be a mapping",
        r"^- a",
        extra={"comp_list.yml": "- a\n- b\n"},
        error_file="comp_list.yml",
    ),
    # cases that found spec bugs (fixed): duplicate keys, type line, command-step paths, component-file errors
    Case(
        "yaml_duplicate_key",
        sub(
            "    max_concurrency_per_instance: 2\n",
            "    max_concurrency_per_instance: 2\n    max_concurrency_per_instance: 4\n",
        ),
        "jobs.batch_prediction.max_concurrency_per_instance",
        "duplicate",
        r"max_concurrency_per_instance: 4",
    ),
    Case(
        "step_type_unknown",
        sub("    type: parallel", "    type: sweep"),
        "jobs.batch_prediction.type",
        "unknown step type 'sweep'",
        r"type: sweep",
    ),
    Case("step_not_mapping", append("  other: just-a-string\n"), "jobs.other", "mapping", r"^  other:"),
    Case(
        "command_environment_misspelt",
        append(command_step("prep", "command: echo hi\nenvironment:\n  imgae: python:3.11")),
        "jobs.prep.environment.imgae",
        "did you mean 'image'?",
        r"imgae:",
    ),
    Case(
        "component_command_unknown_input",
        append(command_step("prep", "component: ./comp_bad_ref.yml")),
        "command",
        "${{inputs.nope}} names no input",
        r"^command:",
        extra={"comp_bad_ref.yml": COMPONENT_HEAD + "command: cat ${{inputs.nope}}\n"},
        error_file="comp_bad_ref.yml",
    ),
    Case(
        "component_code_missing",
        append(command_step("prep", "component: ./comp_no_code.yml")),
        "code",
        "'./no-src' does not exist",
        r"^code:",
        extra={"comp_no_code.yml": COMPONENT_HEAD + "code: ./no-src\ncommand: echo hi\n"},
        error_file="comp_no_code.yml",
    ),
    # B1: command step with a command: key
    Case(
        "command_resources_zero",
        append(command_step("prep", "command: echo hi\nresources:\n  instance_count: 0")),
        "jobs.prep.resources.instance_count",
        "got 0",
        r"instance_count: 0",
    ),
    Case(
        "command_input_misspelt_key",
        append(
            command_step(
                "prep", "command: ls ${{inputs.raw}}\ninputs:\n  raw:\n    type: uri_folder\n    pth: ./raw-data"
            )
        ),
        "jobs.prep.inputs.raw.pth",
        "did you mean 'path'?",
        r"pth:",
    ),
    Case(
        "command_limits_not_mapping",
        append(command_step("prep", "command: echo hi\nlimits: 5")),
        "jobs.prep.limits",
        "got 5",
        r"limits: 5",
    ),
    Case("jobs_empty", whole("type: pipeline\njobs: {}\n"), "jobs", "at least one step", r"^jobs:"),
    Case(
        "command_limits_timeout_negative",
        append("  c:\n    type: command\n    command: echo hi\n    limits:\n      timeout: -5\n"),
        "jobs.c.limits.timeout",
        "-5",
        r"timeout: -5",
    ),
    Case(
        "integer_input_default_word",
        (sub("\njobs:", "\ninputs:\n  n: {type: integer, default: abc}\n\njobs:")),
        "inputs.n.default",
        "abc",
        r"default: abc",
    ),
    Case("split_literal_pipeline_input", whole(LITERAL_SPLIT), "jobs.a.inputs.d", "must be data", r"d: \$\{\{parent"),
    Case(
        "two_steps_one_pipeline_output", whole(TWO_WRITERS), "jobs.b.outputs.o", "jobs.a.outputs.o", r"# second writer"
    ),
    # flow-style mappings: the line is still the key's own line
    Case(
        "flow_style_misspelt_key",
        append(FLOW_STEP.replace("entry_script:", "entry_scrpit:")),
        "jobs.flow.task.entry_scrpit",
        "did you mean 'entry_script'?",
        r"entry_scrpit",
    ),
    Case(
        "flow_style_bad_input_type",
        append(FLOW_STEP.replace("type: uri_folder", "type: folder")),
        "jobs.flow.inputs.d.type",
        "'folder'",
        r"type: folder",
    ),
    # a single type: parallel job file (wrapped as a one-step pipeline)
    Case(
        "single_job_bad_size",
        single('mini_batch_size: "1"', 'mini_batch_size: "1 kb"'),
        "mini_batch_size",
        "is not a size",
        r"^mini_batch_size:",
    ),
    Case(
        "single_job_misspelt_key",
        single("logging_level: WARNING", "loging_level: WARNING"),
        "loging_level",
        "did you mean 'logging_level'?",
        r"^loging_level:",
    ),
    Case(
        "single_job_append_row_to",
        single("append_row_to: ${{outputs.counts}}", "append_row_to: ${{outputs.count}}"),
        "task.append_row_to",
        "names no output",
        r"append_row_to:",
    ),
]

SUBPROCESS_IDS = {"yaml_mapping_in_value", "cycle_two_command_steps", "component_file_missing"}
SUBPROCESS_CASES = [c for c in CASES if c.id in SUBPROCESS_IDS]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return lib.make_workspace(str(tmp_path_factory.mktemp("malformed_pipeline")))


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_pipeline_in_process(case, workspace, capsys):
    path, error_path, line = lib.write_case(case, workspace)
    code, out, err = lib.validate_in_process(capsys, path)
    assert code == 2, (out, err)
    lib.assert_reported(err, error_path, line, case.field, case.says)


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c.id for c in SUBPROCESS_CASES])
def test_malformed_pipeline_real_process(case, workspace):
    path, error_path, line = lib.write_case(case, workspace)
    proc = lib.pjob_subprocess("validate", path, cwd=workspace, module=True)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    lib.assert_reported(proc.stderr, error_path, line, case.field, case.says)


def test_debug_shows_the_traceback(workspace):
    case = CASES[0]
    path, _, _ = lib.write_case(case, workspace)
    proc = lib.pjob_subprocess("--debug", "validate", path, cwd=workspace)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "UserError" in proc.stderr


def test_every_model_problem_is_reported_at_once(workspace, capsys):
    text = lib.chain(
        sub(MBS, 'mini_batch_size: "abc"'),
        sub("timeout: 60", "timeout: 0"),
        sub('logging_level: "DEBUG"', "logging_level: VERBOSE"),
    )(lib.seed_text())
    path = os.path.join(workspace, "three_model_problems.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    code, _, err = lib.validate_in_process(capsys, path)
    assert code == 2
    for field, anchor in [
        ("mini_batch_size", r"mini_batch_size:"),
        ("retry_settings.timeout", r"timeout: 0"),
        ("logging_level", r"logging_level:"),
    ]:
        lib.assert_reported(err, path, lib.line_matching(text, anchor), "jobs.batch_prediction." + field, "")
    assert len([ln for ln in err.splitlines() if ln.startswith("error: ")]) == 3


def test_every_semantic_problem_is_reported_at_once(workspace, capsys):
    text = lib.chain(
        sub("entry_script: iris_prediction.py", "entry_script: nope.py"),
        sub("append_row_to: ${{outputs.job_output_file}}", "append_row_to: ${{outputs.nope}}"),
        sub("--allowed_failed_percent 30", "--allowed_failed_percent 101"),
    )(lib.seed_text())
    path = os.path.join(workspace, "three_semantic_problems.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    code, _, err = lib.validate_in_process(capsys, path)
    assert code == 2
    for field, anchor in [
        ("task.entry_script", r"entry_script:"),
        ("task.append_row_to", r"append_row_to:"),
        ("task.program_arguments", r"--allowed_failed_percent 101"),
    ]:
        lib.assert_reported(err, path, lib.line_matching(text, anchor), "jobs.batch_prediction." + field, "")
    assert len([ln for ln in err.splitlines() if ln.startswith("error: ")]) == 3


def test_missing_file_is_a_user_error(tmp_path, capsys):
    missing = str(tmp_path / "nope.yml")
    code, out, err = lib.validate_in_process(capsys, missing)
    assert code == 2 and out == ""
    lib.assert_reported(err, missing, None, "", "not found")


def test_non_utf8_file_is_a_user_error(workspace, capsys):
    path = os.path.join(workspace, "latin1.yml")
    with open(path, "wb") as fh:
        fh.write(b"type: pipeline\ndisplay_name: caf\xe9\njobs: {}\n")
    code, _, err = lib.validate_in_process(capsys, path)
    assert code == 2
    lib.assert_reported(err, path, 2, "", "not UTF-8")  # the line holding byte 0xe9


def test_control_character_is_a_user_error(workspace, capsys):
    text = lib.seed_text().replace("display_name: iris", "display_name: \x08iris")
    path = os.path.join(workspace, "control_character.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    code, _, err = lib.validate_in_process(capsys, path)
    assert code == 2
    lib.assert_reported(err, path, lib.line_matching(text, r"^display_name:"), "", "")


def test_folder_given_as_the_file_is_a_user_error(workspace, capsys):
    code, out, err = lib.validate_in_process(capsys, workspace)
    assert code == 2 and out == ""
    lib.assert_reported(err, workspace, None, "", "is a folder")
