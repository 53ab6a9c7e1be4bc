"""Valid pipelines through ``pjob validate`` and the pure helpers behind it:
the seed validates unchanged, command steps (inline and ``component:``) feed
a parallel step and are listed in dependency order, relative paths resolve
against the YAML's folder whatever the cwd, near-miss runtime flags warn,
runtime flags parse into typed values while staying in argv, ``$[[...]]``
optional blocks and ``azureml://`` datastore URIs parse.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest
import spec_testlib as lib
from pjob.spec import bindings, checks, flags, load, models, yamlio

SEED_SHA256 = "057b8da784a95d93c96e8850a25f84226ea5603e95cd6776af61a79237dbce4d"  # the text, byte for byte
INLINE = os.path.join(lib.PROJECT_DIR, "inline_command.yml")
COMPONENT = os.path.join(lib.PROJECT_DIR, "component_command.yml")
SINGLE = os.path.join(lib.PROJECT_DIR, "single_parallel.yml")


def step_lines(out: str) -> list[str]:
    """The numbered step lines of a validate summary, in printed order."""
    return [ln.strip() for ln in out.splitlines() if ln.strip()[:1].isdigit()]


def test_seed_fixture_is_unchanged_byte_for_byte():
    with open(lib.SEED_PIPELINE, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == SEED_SHA256


def test_seed_validates_and_lists_step_inputs_and_outputs(capsys):
    code, out, err = lib.validate_in_process(capsys, lib.SEED_PIPELINE)
    assert code == 0, err
    assert "error" not in err and "Traceback" not in err
    assert "valid pipeline 'iris-batch-prediction-using-parallel' with 1 step(s)" in out
    assert step_lines(out) == ["1. batch_prediction [parallel]"]
    assert "mini_batch_size 10kb; 2 instance(s) x 2 worker(s)" in out
    assert "in  input_data <- mltable ./neural-iris-mltable (direct)" in out
    assert "in  score_model <- uri_folder ./iris-model (download)" in out
    assert "out job_output_file -> uri_file" in out


def test_seed_near_miss_flag_is_a_warning_not_an_error(capsys):
    code, _, err = lib.validate_in_process(capsys, lib.SEED_PIPELINE)
    assert code == 0
    warnings = [ln for ln in err.splitlines() if "--resource_monitor_interva " in ln]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("warning: ")
    assert "jobs.batch_prediction.task.program_arguments" in warnings[0]
    assert "did you mean the runtime flag --resource_monitor_interval?" in warnings[0]


def test_seed_validates_as_a_real_process_from_another_cwd(tmp_path):
    proc = lib.pjob_subprocess("validate", lib.SEED_PIPELINE, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "1. batch_prediction [parallel]" in proc.stdout


def test_relative_file_argument_from_another_cwd(capsys, monkeypatch):
    monkeypatch.chdir(os.path.dirname(lib.SEED_DIR))
    code, out, err = lib.validate_in_process(capsys, os.path.join("seed", "pipeline.yml"))
    assert code == 0, err
    assert "batch_prediction" in out


def test_paths_resolve_against_the_yaml_folder_not_the_cwd(tmp_path, capsys, monkeypatch):
    """The pipeline alone in a folder fails even when the cwd holds its code."""
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(lib.SEED_PIPELINE, lonely / "pipeline.yml")
    monkeypatch.chdir(lib.SEED_DIR)
    code, _, err = lib.validate_in_process(capsys, str(lonely / "pipeline.yml"))
    assert code == 2
    assert "jobs.batch_prediction.task.code: code folder './script' does not exist" in err
    assert str(lonely / "script") in err
    assert "jobs.batch_prediction.inputs.input_data.path: input path './neural-iris-mltable' does not exist" in err


def test_no_files_skips_local_path_checks(tmp_path, capsys):
    shutil.copy(lib.SEED_PIPELINE, tmp_path / "pipeline.yml")
    code, out, err = lib.validate_in_process(capsys, "--no-files", str(tmp_path / "pipeline.yml"))
    assert code == 0, err
    assert "batch_prediction" in out


def test_inline_command_step_runs_before_the_parallel_step_that_reads_it(capsys):
    code, out, err = lib.validate_in_process(capsys, INLINE)
    assert code == 0, err
    assert step_lines(out) == ["1. prep [command]", "2. count_lines [parallel]"]
    assert "in  prepared <- uri_folder ${{parent.jobs.prep.outputs.out}}" in out
    assert "in  lookup <- uri_file azureml://datastores/workspaceblobstore/paths/lookup/labels.csv (ro_mount)" in out
    assert "in  raw <- uri_folder ./raw-data" in out
    loaded = checks.load_and_check(INLINE)
    assert checks.dependencies(loaded) == {"count_lines": ["prep"], "prep": []}
    assert checks.run_order(loaded) == ["prep", "count_lines"]
    step = loaded.job.jobs["count_lines"]
    assert isinstance(step, models.ParallelStep) and isinstance(loaded.job.jobs["prep"], models.CommandStep)
    assert step.inputs["threshold"] == 0.5 and step.inputs["verbose"] is True and step.inputs["label"] == "lines"


def test_component_step_has_typed_inputs_outputs_and_defaults(capsys):
    code, out, err = lib.validate_in_process(capsys, COMPONENT)
    assert code == 0, err
    assert step_lines(out) == [
        "1. prep [command (component ./prep.yml)]",
        "2. count_lines [parallel]",
        "3. prep_nested [command (component ./components/prep_nested.yml)]",
    ]
    loaded = checks.load_and_check(COMPONENT)
    comp = loaded.components["prep"]
    assert comp.file == os.path.join(lib.PROJECT_DIR, "prep.yml")
    assert comp.model.name == "prep_data"
    assert comp.model.inputs["raw_data"].type == "uri_folder"
    assert (comp.model.inputs["scale"].type, comp.model.inputs["scale"].default) == ("number", 1.0)
    assert (comp.model.inputs["n_rows"].type, comp.model.inputs["n_rows"].optional) == ("integer", True)
    assert comp.model.outputs["prep_data"].type == "uri_folder"
    assert "$[[--n_rows ${{inputs.n_rows}}]]" in comp.model.command
    assert "in  n_rows <- integer (optional, not set)" in out
    inputs, outputs = checks.step_io(loaded, "prep")
    assert inputs["scale"] == 2.5  # the step's binding wins over the component default
    assert set(inputs) == {"raw_data", "scale", "n_rows"} and set(outputs) == {"prep_data"}
    assert checks.dependencies(loaded)["count_lines"] == ["prep"]
    # the nested component's code folder (../prep_src) resolves against the component file
    nested = loaded.components["prep_nested"]
    assert os.path.dirname(nested.file) == os.path.join(lib.PROJECT_DIR, "components")


def test_single_parallel_job_is_a_one_step_pipeline(capsys):
    code, out, err = lib.validate_in_process(capsys, SINGLE)
    assert code == 0, err
    assert step_lines(out) == ["1. count_alone [parallel]"]
    loaded = load.load_job(SINGLE)
    assert loaded.wrapped == "parallel"
    assert loaded.job.jobs["count_alone"].logging_level == "WARNING"


def test_parallel_step_defaults_follow_azure():
    step = models.ParallelStep.model_validate(
        {"type": "parallel", "input_data": "${{inputs.x}}", "task": {"entry_script": "s.py"}}
    )
    assert step.mini_batch_error_threshold == -1 and step.error_threshold == -1
    assert (step.retry_settings.max_retries, step.retry_settings.timeout) == (2, 60)
    assert step.logging_level == "INFO" and step.task.type == "run_function"
    assert step.mini_batch_size is None and step.max_concurrency_per_instance is None


SEED_ARGS = (
    "--model ${{inputs.score_model}} --error_threshold 5 --allowed_failed_percent 30 --task_overhead_timeout 1200 "
    "--progress_update_timeout 600 --first_task_creation_timeout 600 --copy_logs_to_parent True --resource_monitor_interva 20"
)


def test_seed_program_arguments_are_the_ones_in_the_model():
    loaded = load.load_job(lib.SEED_PIPELINE)
    assert loaded.job.jobs["batch_prediction"].task.program_arguments == SEED_ARGS


def test_runtime_flags_parse_typed_and_stay_in_argv():
    argv = flags.split_args(SEED_ARGS)
    parsed = flags.parse_flags(argv)
    assert parsed.error_threshold == 5 and isinstance(parsed.error_threshold, int)
    assert parsed.allowed_failed_percent == 30.0
    assert parsed.task_overhead_timeout == 1200.0
    assert parsed.progress_update_timeout == 600.0
    assert parsed.first_task_creation_timeout == 600.0
    assert parsed.copy_logs_to_parent is True
    assert parsed.resource_monitor_interval == 600.0  # the misspelt flag is the user's, not ours
    assert parsed.append_row_dataframe_header is False and parsed.metrics_name_prefix == ""
    assert argv == SEED_ARGS.split()  # every flag, ours and the user's, stays for the entry script
    assert flags.near_misses(argv) == [("resource_monitor_interva", "resource_monitor_interval")]


@pytest.mark.parametrize(
    "args, field, value",
    [
        ("--error_threshold 2.1", "error_threshold", 3),  # rounded up
        ("--error_threshold -7", "error_threshold", -1),  # below -1 means -1
        ("--error_threshold=4", "error_threshold", 4),
        ("--allowed_failed_percent 0", "allowed_failed_percent", 0.0),
        ("--allowed_failed_percent 100", "allowed_failed_percent", 100.0),
        ("--resource_monitor_interval 0", "resource_monitor_interval", 0.0),  # 0 = off
        ("--append_row_dataframe_header true", "append_row_dataframe_header", True),
        ("--push_metrics_to_parent False", "push_metrics_to_parent", False),
        ("--metrics_name_prefix run1_", "metrics_name_prefix", "run1_"),
        ("--error_thresh 9", "error_threshold", None),  # allow_abbrev=False: a user flag
        ("", "progress_update_timeout", None),  # None = 3 x (timeout + overhead)
    ],
)
def test_runtime_flag_values(args, field, value):
    assert getattr(flags.parse_flags(flags.split_args(args)), field) == value


def test_optional_blocks_are_kept_or_dropped():
    values = {"raw": "/data/raw", "n_rows": "5", "out": "/out"}

    def lookup(ref: bindings.Ref):
        return values.get(ref.name)

    text = "python prep.py --raw ${{inputs.raw}} $[[--n_rows ${{inputs.n_rows}}]] $[[--scale ${{inputs.scale}}]] --out ${{outputs.out}}"
    assert bindings.substitute(text, lookup) == "python prep.py --raw /data/raw --n_rows 5  --out /out"
    with pytest.raises(bindings.BindingError, match="wrap the argument in"):
        bindings.substitute("--scale ${{inputs.scale}}", lookup)
    assert bindings.substitute("$[[--flag]] plain", lookup) == "--flag plain"


def test_binding_forms_parse():
    got = bindings.refs(
        "${{inputs.a}} ${{outputs.b}} ${{parent.inputs.c}} ${{parent.outputs.d}} "
        "${{ parent.jobs.prep-1.outputs.out_2 }} ${{name}} ${{default_datastore}}"
    )
    assert got == [
        bindings.Ref("inputs", "a"),
        bindings.Ref("outputs", "b"),
        bindings.Ref("parent.inputs", "c"),
        bindings.Ref("parent.outputs", "d"),
        bindings.Ref("parent.jobs", "out_2", "prep-1"),
        bindings.Ref("name"),
        bindings.Ref("default_datastore"),
    ]
    assert [r.text for r in got][4] == "${{parent.jobs.prep-1.outputs.out_2}}"
    assert bindings.whole_ref(" ${{inputs.a}} ") == bindings.Ref("inputs", "a")
    assert bindings.whole_ref("x ${{inputs.a}}") is None
    with pytest.raises(bindings.BindingError, match="unknown binding"):
        bindings.refs("${{jobs.x}}")


@pytest.mark.parametrize(
    "uri, parsed",
    [
        ("azureml://datastores/workspaceblobstore/paths/data/iris/", ("workspaceblobstore", "data/iris/")),
        ("azureml://datastores/default/paths/a.csv", ("default", "a.csv")),
        ("azureml://datastores/ds/paths/", ("ds", "")),
        ("azureml://subscriptions/s/resourcegroups/r/workspaces/w/datastores/ds/paths/p/q.csv", ("ds", "p/q.csv")),
        ("azureml:cpu-cluster", None),
        ("./local/path", None),
        ("s3://bucket/key", None),
    ],
)
def test_datastore_uris(uri, parsed):
    assert bindings.parse_datastore_uri(uri) == parsed


ALIASED = """type: pipeline
jobs:
  first:
    type: parallel
    inputs:
      d: {type: uri_folder, path: ./iris-model}
    input_data: ${{inputs.d}}
    retry_settings: &retry
      max_retries: 4
      timeout: 20
    task: &task {code: ./script, entry_script: iris_prediction.py}
  second:
    type: parallel
    inputs:
      d: {type: uri_folder, path: ./iris-model}
    input_data: ${{inputs.d}}
    retry_settings: *retry
    mini_batch_size: "1"
    task: *task
"""


def test_anchors_and_aliases_are_read(tmp_path, capsys):
    lib.make_workspace(str(tmp_path))
    path = tmp_path / "aliased.yml"
    path.write_text(ALIASED, encoding="utf-8")
    code, out, err = lib.validate_in_process(capsys, str(path))
    assert code == 0, err
    assert step_lines(out) == ["1. first [parallel]", "2. second [parallel]"]
    job = load.load_job(str(path)).job
    assert (
        job.jobs["second"].retry_settings.max_retries == 4
        and job.jobs["second"].task.entry_script == "iris_prediction.py"
    )
    # an error inside an anchored mapping is reported for each user, at the line where it is written
    bad = ALIASED.replace("timeout: 20", "timeout: 0")
    path.write_text(bad, encoding="utf-8")
    code, _, err = lib.validate_in_process(capsys, str(path))
    assert code == 2
    for step in ("first", "second"):
        lib.assert_reported(
            err, str(path), lib.line_matching(bad, r"timeout: 0"), f"jobs.{step}.retry_settings.timeout", "got 0"
        )


def test_runtime_flag_bound_to_a_literal_input_is_valid(tmp_path, capsys):
    lib.make_workspace(str(tmp_path))
    text = lib.seed_text().replace("--error_threshold 5", "--error_threshold ${{inputs.thr}}")
    text = text.replace("      score_model: \n", "      thr: 5\n      score_model: \n")
    path = tmp_path / "flag_bound.yml"
    path.write_text(text, encoding="utf-8")
    code, _, err = lib.validate_in_process(capsys, str(path))
    assert code == 0, err


MERGED = """type: pipeline
x-retry: &retry
  max_retries: 3
  timeout: 10
jobs:
  a:
    type: parallel
    inputs:
      d: {type: uri_folder, path: ./iris-model}
    input_data: ${{inputs.d}}
    retry_settings:
      <<: *retry
      timeout: 20
    task: {code: ./script, entry_script: iris_prediction.py}
"""


def test_merge_key_override_is_not_a_duplicate():
    data, _ = yamlio.parse_yaml(MERGED, "merged.yml")
    assert data["jobs"]["a"]["retry_settings"] == {"max_retries": 3, "timeout": 20}


def test_entry_script_without_run_is_a_warning(tmp_path, capsys):
    lib.make_workspace(str(tmp_path))
    (tmp_path / "norun_src").mkdir()
    (tmp_path / "norun_src" / "score.py").write_text("def init():\n    pass\n", encoding="utf-8")
    text = (
        lib.seed_text()
        .replace('code: "./script"', 'code: "./norun_src"')
        .replace("entry_script: iris_prediction.py", "entry_script: score.py")
    )
    path = tmp_path / "norun.yml"
    path.write_text(text, encoding="utf-8")
    code, out, err = lib.validate_in_process(capsys, str(path))
    assert code == 0, err
    assert any(ln.startswith("warning: ") and "run()" in ln for ln in err.splitlines()), err


def test_partition_keys_with_mini_batch_size_warns(tmp_path, capsys):
    lib.make_workspace(str(tmp_path))
    text = lib.seed_text().replace(
        "    max_concurrency_per_instance: 2\n", "    max_concurrency_per_instance: 2\n    partition_keys: [species]\n"
    )
    path = tmp_path / "partitioned.yml"
    path.write_text(text, encoding="utf-8")
    code, out, err = lib.validate_in_process(capsys, str(path))
    assert code == 0, err
    assert "by partition_keys ['species']" in out
    assert any(
        ln.startswith("warning: ") and "mini_batch_size" in ln and "partition_keys" in ln for ln in err.splitlines()
    ), err


@pytest.mark.parametrize("preset", [None, "logfire"])
def test_model_import_leaves_the_pydantic_plugin_switch_as_it_found_it(preset):
    # pjob builds its own models with plugins off (start-up time); a user's value,
    # or its absence, must be what entry scripts see afterwards
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if preset:
        env["PYDANTIC_DISABLE_PLUGINS"] = preset
    code = "import os, pjob.spec.models; print(os.environ.get('PYDANTIC_DISABLE_PLUGINS'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(preset)
