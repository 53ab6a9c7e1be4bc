"""Malformed parallel steps through ``pjob validate``: each case mutates the
seed pipeline text, runs the real CLI entry (``pjob.cli.main`` in-process;
a few also as real processes) and checks exit 2, the field path, the line
computed from the text we wrote, and that no traceback is shown.

Pipeline-level, command-step, component and whole-document cases are in
``test_validate_malformed_pipeline.py``.
"""

from __future__ import annotations

import os

import pytest
import spec_testlib as lib
from spec_testlib import Case, chain, sub

P = "jobs.batch_prediction"
MBS = 'mini_batch_size: "10kb"'
ARGS = "--model ${{inputs.score_model}}"
SCORE_PATH = "path: ./iris-model"
APPEND = "append_row_to: ${{outputs.job_output_file}}"
INPUT_DATA = "    input_data: ${{inputs.input_data}}\n"

BROKEN_SCRIPT = "import os\n\n\ndef run(mini_batch:\n    return []\n"
ODD_MLTABLE = (
    "paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n  - frobnicate: {}\n"
)

CASES = [
    # mini_batch_size
    Case(
        "mbs_space",
        sub(MBS, 'mini_batch_size: "10 kb"'),
        P + ".mini_batch_size",
        "'10 kb' is not a size",
        r"mini_batch_size:",
    ),
    Case(
        "mbs_word",
        sub(MBS, 'mini_batch_size: "abc"'),
        P + ".mini_batch_size",
        "'abc' is not a size",
        r"mini_batch_size:",
    ),
    Case("mbs_zero", sub(MBS, 'mini_batch_size: "0"'), P + ".mini_batch_size", "greater than 0", r"mini_batch_size:"),
    Case(
        "mbs_zero_kb", sub(MBS, 'mini_batch_size: "0kb"'), P + ".mini_batch_size", "greater than 0", r"mini_batch_size:"
    ),
    Case(
        "mbs_terabytes",
        sub(MBS, 'mini_batch_size: "10tb"'),
        P + ".mini_batch_size",
        "'10tb' is not a size",
        r"mini_batch_size:",
    ),
    Case(
        "mbs_negative",
        sub(MBS, "mini_batch_size: -5"),
        P + ".mini_batch_size",
        "'-5' is not a size",
        r"mini_batch_size:",
    ),
    Case(
        "mbs_float", sub(MBS, "mini_batch_size: 1.5"), P + ".mini_batch_size", "must be a string", r"mini_batch_size:"
    ),
    Case("mbs_empty", sub(MBS, 'mini_batch_size: ""'), P + ".mini_batch_size", "is not a size", r"mini_batch_size:"),
    Case(
        "mbs_list", sub(MBS, "mini_batch_size: [10]"), P + ".mini_batch_size", "must be a string", r"mini_batch_size:"
    ),
    # unknown and misspelt keys
    Case(
        "key_step_misspelt",
        sub(MBS, 'mini_batch_sizes: "10kb"'),
        P + ".mini_batch_sizes",
        "did you mean 'mini_batch_size'?",
        r"mini_batch_sizes:",
    ),
    Case(
        "key_logging_misspelt",
        sub('logging_level: "DEBUG"', 'loging_level: "DEBUG"'),
        P + ".loging_level",
        "did you mean 'logging_level'?",
        r"loging_level:",
    ),
    Case(
        "key_task_misspelt",
        sub("entry_script: iris", "entry_scrpit: iris"),
        P + ".task.entry_scrpit",
        "did you mean 'entry_script'?",
        r"entry_scrpit:",
    ),
    Case(
        "key_program_args_misspelt",
        sub("program_arguments: >-", "program_argument: >-"),
        P + ".task.program_argument",
        "did you mean 'program_arguments'?",
        r"program_argument:",
    ),
    Case(
        "key_retry_misspelt",
        sub("max_retries: 2", "max_retry: 2"),
        P + ".retry_settings.max_retry",
        "did you mean 'max_retries'?",
        r"max_retry:",
    ),
    Case(
        "key_resources_misspelt",
        sub("instance_count: 2", "instance_cuont: 2"),
        P + ".resources.instance_cuont",
        "did you mean 'instance_count'?",
        r"instance_cuont:",
    ),
    Case(
        "key_input_misspelt",
        sub("mode: direct", "mdoe: direct"),
        P + ".inputs.input_data.mdoe",
        "did you mean 'mode'?",
        r"mdoe:",
    ),
    Case(
        "key_output_misspelt",
        sub("mode: rw_mount", "moed: rw_mount"),
        P + ".outputs.job_output_file.moed",
        "did you mean 'mode'?",
        r"moed:",
    ),
    Case(
        "key_environment_misspelt",
        sub("conda_file:", "conda_files:"),
        P + ".task.environment.conda_files",
        "did you mean 'conda_file'?",
        r"conda_files:",
    ),
    Case(
        "key_unknown_no_near_miss",
        sub("max_concurrency_per_instance: 2\n", "max_concurrency_per_instance: 2\n    gpu_magic: true\n"),
        P + ".gpu_magic",
        "unknown key 'gpu_magic'",
        r"gpu_magic:",
    ),
    # retry_settings, resources, concurrency, thresholds, logging
    Case(
        "timeout_negative", sub("timeout: 60", "timeout: -5"), P + ".retry_settings.timeout", "got -5", r"timeout: -5"
    ),
    Case(
        "timeout_zero", sub("timeout: 60", "timeout: 0"), P + ".retry_settings.timeout", "greater than 0", r"timeout: 0"
    ),
    Case(
        "timeout_too_long",
        sub("timeout: 60", "timeout: 259201"),
        P + ".retry_settings.timeout",
        "259200",
        r"timeout: 259201",
    ),
    Case(
        "timeout_word", sub("timeout: 60", "timeout: soon"), P + ".retry_settings.timeout", "'soon'", r"timeout: soon"
    ),
    Case(
        "max_retries_negative",
        sub("max_retries: 2", "max_retries: -1"),
        P + ".retry_settings.max_retries",
        "got -1",
        r"max_retries:",
    ),
    Case(
        "instance_count_zero",
        sub("instance_count: 2", "instance_count: 0"),
        P + ".resources.instance_count",
        "got 0",
        r"instance_count:",
    ),
    Case(
        "instance_count_word",
        sub("instance_count: 2", "instance_count: two"),
        P + ".resources.instance_count",
        "'two'",
        r"instance_count:",
    ),
    Case(
        "concurrency_zero",
        sub("max_concurrency_per_instance: 2", "max_concurrency_per_instance: 0"),
        P + ".max_concurrency_per_instance",
        "got 0",
        r"max_concurrency_per_instance:",
    ),
    Case(
        "mb_error_threshold_below_minus_one",
        sub("mini_batch_error_threshold: 5", "mini_batch_error_threshold: -2"),
        P + ".mini_batch_error_threshold",
        "got -2",
        r"mini_batch_error_threshold:",
    ),
    Case(
        "error_threshold_key_below_minus_one",
        sub("mini_batch_error_threshold: 5\n", "mini_batch_error_threshold: 5\n    error_threshold: -3\n"),
        P + ".error_threshold",
        "got -3",
        r"^    error_threshold:",
    ),
    Case(
        "logging_verbose",
        sub('logging_level: "DEBUG"', "logging_level: VERBOSE"),
        P + ".logging_level",
        "'VERBOSE'",
        r"logging_level:",
    ),
    Case(
        "partition_keys_not_list",
        sub("max_concurrency_per_instance: 2\n", "max_concurrency_per_instance: 2\n    partition_keys: species\n"),
        P + ".partition_keys",
        "'species'",
        r"partition_keys:",
    ),
    # input_data
    Case("input_data_missing", sub(INPUT_DATA, ""), P + ".input_data", "missing", r"^  batch_prediction:"),
    Case(
        "input_data_names_no_input",
        sub("${{inputs.input_data}}", "${{inputs.nothere}}"),
        P + ".input_data",
        "${{inputs.nothere}} names no input",
        r"^    input_data:",
    ),
    Case(
        "input_data_not_binding",
        sub(INPUT_DATA, "    input_data: ./neural-iris-mltable\n"),
        P + ".input_data",
        "must be ${{inputs.<name>}}",
        r"^    input_data:",
    ),
    Case(
        "input_data_an_output",
        sub(INPUT_DATA, "    input_data: ${{outputs.job_output_file}}\n"),
        P + ".input_data",
        "must be ${{inputs.<name>}}",
        r"^    input_data:",
    ),
    Case(
        "input_data_a_literal",
        chain(
            sub(INPUT_DATA, "    input_data: ${{inputs.threshold}}\n"),
            sub("      score_model: \n", "      threshold: 0.5\n      score_model: \n"),
        ),
        P + ".inputs.threshold",
        "must be data",
        r"^      threshold:",
    ),
    # program_arguments bindings and runtime flags
    Case(
        "args_input_unknown",
        sub(ARGS, "--model ${{inputs.x}}"),
        P + ".task.program_arguments",
        "${{inputs.x}} names no input",
        r"program_arguments:",
    ),
    Case(
        "args_output_unknown",
        sub(ARGS, ARGS + " --out ${{outputs.nope}}"),
        P + ".task.program_arguments",
        "${{outputs.nope}} names no output",
        r"program_arguments:",
    ),
    Case(
        "args_unknown_binding",
        sub(ARGS, "--model ${{foo.bar}}"),
        P + ".task.program_arguments",
        "unknown binding ${{foo.bar}}",
        r"program_arguments:",
    ),
    Case(
        "args_parent_scope",
        sub(ARGS, "--model ${{parent.inputs.model}}"),
        P + ".task.program_arguments",
        "cannot be used here",
        r"program_arguments:",
    ),
    Case(
        "args_unbalanced_quote",
        sub(ARGS, '--model "${{inputs.score_model}}'),
        P + ".task.program_arguments",
        "quote",
        r"program_arguments:",
    ),
    Case(
        "flag_allowed_failed_percent_150",
        sub("--allowed_failed_percent 30", "--allowed_failed_percent 150"),
        P + ".task.program_arguments",
        "--allowed_failed_percent 150 is out of range",
        r"--allowed_failed_percent 150",
    ),  # the flag's own line (B22)
    Case(
        "flag_error_threshold_word",
        sub("--error_threshold 5", "--error_threshold abc"),
        P + ".task.program_arguments",
        "--error_threshold 'abc' is not a number",
        r"--error_threshold abc",
    ),  # the flag's own line (B22)
    Case(
        "flag_task_overhead_zero",
        sub("--task_overhead_timeout 1200", "--task_overhead_timeout 0"),
        P + ".task.program_arguments",
        "--task_overhead_timeout 0 is out of range",
        r"--task_overhead_timeout 0",
    ),  # the flag's own line (B22)
    Case(
        "flag_progress_negative",
        sub("--progress_update_timeout 600", "--progress_update_timeout -1"),
        P + ".task.program_arguments",
        "--progress_update_timeout -1 is out of range",
        r"--progress_update_timeout -1",
    ),  # the flag's own line (B22)
    Case(
        "flag_first_task_word",
        sub("--first_task_creation_timeout 600", "--first_task_creation_timeout soon"),
        P + ".task.program_arguments",
        "--first_task_creation_timeout 'soon' is not a number",
        r"--first_task_creation_timeout soon",
    ),  # the flag's own line (B22)
    Case(
        "flag_copy_logs_not_bool",
        sub("--copy_logs_to_parent True", "--copy_logs_to_parent maybe"),
        P + ".task.program_arguments",
        "is not a boolean",
        r"--copy_logs_to_parent maybe",
    ),  # the flag's own line (B22)
    Case(
        "flag_monitor_negative",
        sub("--resource_monitor_interva 20", "--resource_monitor_interval -1"),
        P + ".task.program_arguments",
        "--resource_monitor_interval -1 is out of range",
        r"--resource_monitor_interval -1",
    ),  # the flag's own line (B22)
    # outputs
    Case(
        "output_to_object_store",
        sub(
            "        type: uri_file\n        mode: rw_mount\n",
            "        type: uri_file\n        mode: rw_mount\n        path: s3://bucket/out.txt\n",
        ),
        P + ".outputs.job_output_file.path",
        "is an object store",
        r"path: s3://bucket/out.txt",
    ),
    # append_row_to
    Case(
        "append_row_to_no_output",
        sub(APPEND, "append_row_to: ${{outputs.nothere}}"),
        P + ".task.append_row_to",
        "${{outputs.nothere}} names no output",
        r"append_row_to:",
    ),
    Case(
        "append_row_to_path",
        sub(APPEND, "append_row_to: ./results.txt"),
        P + ".task.append_row_to",
        "must be ${{outputs.<name>}}",
        r"append_row_to:",
    ),
    Case(
        "append_row_to_input",
        sub(APPEND, "append_row_to: ${{inputs.input_data}}"),
        P + ".task.append_row_to",
        "must be ${{outputs.<name>}}",
        r"append_row_to:",
    ),
    # task
    Case(
        "task_type_other",
        sub("type: run_function", "type: run_script"),
        P + ".task.type",
        "'run_script'",
        r"type: run_script",
    ),
    Case(
        "entry_script_missing",
        sub("entry_script: iris_prediction.py", "entry_script: nope.py"),
        P + ".task.entry_script",
        "'nope.py' not found",
        r"entry_script:",
    ),
    Case(
        "entry_script_outside_code",
        sub("entry_script: iris_prediction.py", "entry_script: ../prep_src/prep.py"),
        P + ".task.entry_script",
        "inside the code folder",
        r"entry_script:",
    ),
    Case(
        "entry_script_syntax_error",
        lib.chain(
            sub('code: "./script"', 'code: "./broken_src"'),
            sub("entry_script: iris_prediction.py", "entry_script: score.py"),
        ),
        P + ".task.entry_script",
        "does not compile",
        r"entry_script:",
        extra={"broken_src/score.py": BROKEN_SCRIPT},
    ),
    Case(
        "entry_script_syntax_error_line",
        lib.chain(
            sub('code: "./script"', 'code: "./broken_src"'),
            sub("entry_script: iris_prediction.py", "entry_script: score.py"),
        ),
        "",
        "syntax error in the entry script",
        r"def run\(",
        extra={"broken_src/score.py": BROKEN_SCRIPT},
        error_file="broken_src/score.py",
    ),
    Case(
        "mltable_unsupported_step",
        sub("path: ./neural-iris-mltable", "path: ./odd-mltable"),
        P + ".inputs.input_data.path",
        "MLTable",
        r"path: ./odd-mltable",
        extra={"odd-mltable/MLTable": ODD_MLTABLE, "odd-mltable/x.csv": "a\n1\n"},
    ),
    Case(
        "code_folder_missing",
        sub('code: "./script"', 'code: "./nocode"'),
        P + ".task.code",
        "'./nocode' does not exist",
        r"code:",
    ),
    # inputs and outputs of the step
    Case(
        "input_type_unknown",
        sub("type: mltable", "type: tabular"),
        P + ".inputs.input_data.type",
        "'tabular'",
        r"type: tabular",
    ),
    Case(
        "input_mode_unknown",
        sub("mode: download", "mode: copy"),
        P + ".inputs.score_model.mode",
        "'copy'",
        r"mode: copy",
    ),
    Case(
        "output_type_unknown",
        sub("type: uri_file", "type: csv_file"),
        P + ".outputs.job_output_file.type",
        "'csv_file'",
        r"type: csv_file",
    ),
    Case(
        "output_mode_readonly",
        sub("mode: rw_mount", "mode: ro_mount"),
        P + ".outputs.job_output_file.mode",
        "'ro_mount'",
        r"mode: ro_mount",
    ),
    Case(
        "output_uri_file_is_a_folder",
        sub("        mode: rw_mount\n", "        mode: rw_mount\n        path: ./script\n"),
        P + ".outputs.job_output_file.path",
        "is a folder but type uri_file",
        r"path: ./script",
    ),
    Case(
        "output_folder_is_a_file",
        sub(
            "        type: uri_file\n        mode: rw_mount\n",
            "        type: uri_folder\n        mode: rw_mount\n        path: ./script/iris_prediction.py\n",
        ),
        P + ".outputs.job_output_file.path",
        "is a file but type uri_folder",
        r"path: ./script/iris",
    ),
    Case(
        "input_path_missing",
        sub(SCORE_PATH, "path: ./no-such-model"),
        P + ".inputs.score_model.path",
        "'./no-such-model' does not exist",
        r"no-such-model",
    ),
    Case(
        "input_parent_jobs_nostep",
        sub(SCORE_PATH, "path: ${{parent.jobs.nostep.outputs.o}}"),
        P + ".inputs.score_model.path",
        "there is no step 'nostep'",
        r"nostep",
    ),
    Case(
        "input_parent_inputs_missing",
        sub(SCORE_PATH, "path: ${{parent.inputs.missing}}"),
        P + ".inputs.score_model.path",
        "${{parent.inputs.missing}} names no pipeline input",
        r"parent.inputs.missing",
    ),
    Case(
        "input_unknown_binding",
        sub(SCORE_PATH, "path: ${{foo.bar}}"),
        P + ".inputs.score_model.path",
        "unknown binding ${{foo.bar}}",
        r"foo.bar",
    ),
    Case(
        "input_own_output",
        sub(SCORE_PATH, "path: ${{parent.jobs.batch_prediction.outputs.job_output_file}}"),
        P + ".inputs.score_model.path",
        "cannot read its own output",
        r"parent.jobs.batch_prediction",
    ),
    Case(
        "input_output_scope",
        sub(SCORE_PATH, "path: ${{outputs.job_output_file}}"),
        P + ".inputs.score_model.path",
        "cannot be used here",
        r"path: \$\{\{outputs",
    ),
    Case(
        "input_a_list",
        sub("      score_model: \n", "      extra: [1, 2]\n      score_model: \n"),
        P + ".inputs.extra",
        "[1, 2]",
        r"extra:",
    ),
    Case(
        "flag_without_value",
        sub("--copy_logs_to_parent True", "--copy_logs_to_parent"),
        P + ".task.program_arguments",
        "--copy_logs_to_parent",
        r"--copy_logs_to_parent",
    ),  # the flag's own line (B22)
    Case(
        "flag_without_value_last",
        sub("--resource_monitor_interva 20", "--resource_monitor_interval"),
        P + ".task.program_arguments",
        "--resource_monitor_interval",
        r"--resource_monitor_interval",
    ),  # the flag's own line (B22)
    Case(
        "input_data_without_path",
        sub("        type: mltable\n        path: ./neural-iris-mltable\n", ""),
        P + ".inputs.input_data",
        "path",
        r"^      input_data:",
    ),
    Case(
        "unclosed_optional_block",
        sub("--model ${{inputs.score_model}}", "--model ${{inputs.score_model}} $[[--opt ${{inputs.score_model}}"),
        P + ".task.program_arguments",
        "$[[",
        r"program_arguments:",
    ),
    Case(
        "task_env_var_unknown_input",
        sub(
            "      append_row_to: ${{outputs.job_output_file}}\n",
            "      append_row_to: ${{outputs.job_output_file}}\n      environment_variables:\n        A: ${{inputs.nope}}\n",
        ),
        P + ".task.environment_variables.A",
        "${{inputs.nope}}",
        r"^        A:",
    ),
    Case(
        "code_is_a_file",
        sub('code: "./script"', 'code: "./script/iris_prediction.py"'),
        P + ".task.code",
        "not a folder",
        r"code:",
    ),
    Case(
        "partition_keys_file_input",
        lib.chain(
            sub("type: mltable", "type: uri_folder"),
            sub(
                "    max_concurrency_per_instance: 2\n",
                "    max_concurrency_per_instance: 2\n    partition_keys: [species]\n",
            ),
        ),
        P + ".partition_keys",
        "mltable",
        r"partition_keys:",
    ),
    Case(
        "input_mode_upload",
        sub("mode: download", "mode: upload"),
        P + ".inputs.score_model.mode",
        "'upload'",
        r"mode: upload",
    ),
    Case(
        "env_var_unknown_input",
        sub(
            "max_concurrency_per_instance: 2\n",
            "max_concurrency_per_instance: 2\n    environment_variables:\n      MODEL_DIR: ${{inputs.nope}}\n",
        ),
        P + ".environment_variables.MODEL_DIR",
        "${{inputs.nope}} names no input",
        r"MODEL_DIR:",
    ),
]
SUBPROCESS_IDS = {"mbs_space", "flag_allowed_failed_percent_150", "entry_script_missing"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return lib.make_workspace(str(tmp_path_factory.mktemp("malformed")))


def test_there_are_enough_cases():
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_step_in_process(case, workspace, capsys):
    path, error_path, line = lib.write_case(case, workspace)
    code, out, err = lib.validate_in_process(capsys, path)
    assert code == 2, (out, err)
    lib.assert_reported(err, error_path, line, case.field, case.says)


SUBPROCESS_CASES = [c for c in CASES if c.id in SUBPROCESS_IDS]


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c.id for c in SUBPROCESS_CASES])
def test_malformed_step_real_process(case, workspace):
    path, error_path, line = lib.write_case(case, workspace)
    proc = lib.pjob_subprocess("validate", path, cwd=workspace)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    lib.assert_reported(proc.stderr, error_path, line, case.field, case.says)


def test_unsupported_mltable_step_names_the_mltable_file(workspace, capsys):
    case = next(c for c in CASES if c.id == "mltable_unsupported_step")
    path, _, _ = lib.write_case(case, workspace)
    code, _, err = lib.validate_in_process(capsys, path)
    assert code == 2
    mltable = os.path.join(workspace, "odd-mltable", "MLTable")
    assert any(
        ln.startswith(f"error: {mltable}:6: transformations[1].frobnicate:") and "'frobnicate' is not supported" in ln
        for ln in err.splitlines()
    ), err  # the MLTable file's own line (B27)
