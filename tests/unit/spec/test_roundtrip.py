"""YAML -> model -> YAML -> model round-trips for the seed and the spec
fixtures, and (with hypothesis) for generated parallel steps with field
values in their valid ranges. Also checks that a dump keeps everything the
user wrote (nothing silently dropped or defaulted in)."""

from __future__ import annotations

import os

import pytest
import spec_testlib as lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pjob.spec import load, models, yamlio


def dump(model) -> dict:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def roundtrip(model_cls, data):
    """Validate ``data``, dump it to YAML text, parse and validate again."""
    first = model_cls.model_validate(data)
    text = yamlio.dump_yaml(dump(first))
    again, _ = yamlio.parse_yaml(text, "<roundtrip>")
    second = model_cls.model_validate(again)
    return first, second, again


PIPELINES = {
    "seed": lib.SEED_PIPELINE,
    "inline_command": os.path.join(lib.PROJECT_DIR, "inline_command.yml"),
    "component_command": os.path.join(lib.PROJECT_DIR, "component_command.yml"),
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_fixture_roundtrips_equal(name):
    data, _ = yamlio.load_yaml(PIPELINES[name])
    first, second, again = roundtrip(models.PipelineJob, data)
    assert first == second
    assert dump(second) == dump(first) == again


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_dump_keeps_exactly_what_the_user_wrote(name):
    data, _ = yamlio.load_yaml(PIPELINES[name])
    assert dump(models.PipelineJob.model_validate(data)) == data


@pytest.mark.parametrize("rel", ["prep.yml", "components/prep_nested.yml"])
def test_component_fixture_roundtrips_equal(rel):
    data, _ = yamlio.load_yaml(os.path.join(lib.PROJECT_DIR, rel))
    first, second, again = roundtrip(models.CommandComponent, data)
    assert first == second
    assert again == data


def test_single_parallel_job_roundtrips_as_a_pipeline():
    path = os.path.join(lib.PROJECT_DIR, "single_parallel.yml")
    loaded = load.load_job(path)
    assert not loaded.problems
    first, second, _ = roundtrip(models.PipelineJob, dump(loaded.job))
    assert first == second
    assert list(second.jobs) == ["count_alone"]


@pytest.mark.parametrize(
    "text",
    ["a\x85b", "\x85", "x\u2028y", "tab\there", "cr\rlf", "\ufeffbom", "yes", "null", "1.0", "~", " lead", "trail "],
)
def test_awkward_strings_roundtrip(text):
    assert yamlio.parse_yaml(yamlio.dump_yaml({"k": text}))[0] == {"k": text}


# --- generated parallel steps ------------------------------------------------

AZURE_INPUT_MODES = ("ro_mount", "download", "direct", "eval_mount", "eval_download")
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
free_text = st.text(max_size=30)
literals = st.one_of(
    st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False, allow_infinity=False), free_text
)
data_inputs = st.fixed_dictionaries(
    {"type": st.sampled_from(models.DATA_TYPES)},
    optional={"path": free_text, "mode": st.sampled_from(AZURE_INPUT_MODES), "description": free_text},
)
data_outputs = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["uri_file", "uri_folder", "mltable"]),
        "mode": st.sampled_from(["rw_mount", "upload", "direct"]),
        "path": free_text,
    },
)
environments = st.one_of(
    free_text,
    st.fixed_dictionaries(
        {},
        optional={
            "image": free_text,
            "conda_file": free_text,
            "name": free_text,
            "version": st.one_of(st.integers(0, 99), free_text),
        },
    ),
)
tasks = st.fixed_dictionaries(
    {"entry_script": free_text},
    optional={
        "type": st.just("run_function"),
        "code": free_text,
        "environment": environments,
        "program_arguments": free_text,
        "append_row_to": free_text,
        "environment_variables": st.dictionaries(names, free_text, max_size=3),
    },
)
parallel_steps = st.fixed_dictionaries(
    {"type": st.just("parallel"), "input_data": free_text, "task": tasks},
    optional={
        "inputs": st.dictionaries(names, st.one_of(literals, data_inputs), max_size=4),
        "outputs": st.dictionaries(names, st.one_of(st.none(), data_outputs), max_size=3),
        "mini_batch_size": st.from_regex(r"[1-9][0-9]{0,6}([kKmMgG][bB])?", fullmatch=True),
        "partition_keys": st.lists(free_text, max_size=3),
        "resources": st.fixed_dictionaries(
            {}, optional={"instance_count": st.integers(1, 10_000), "instance_type": free_text}
        ),
        "max_concurrency_per_instance": st.integers(1, 1024),
        "mini_batch_error_threshold": st.integers(-1, 10**9),
        "error_threshold": st.integers(-1, 10**9),
        "retry_settings": st.fixed_dictionaries(
            {}, optional={"max_retries": st.integers(0, 1000), "timeout": st.integers(1, 259200)}
        ),
        "logging_level": st.sampled_from(models.LOGGING_LEVELS),
        "environment_variables": st.dictionaries(names, free_text, max_size=3),
        "compute": free_text,
        "tags": st.dictionaries(names, free_text, max_size=3),
        "display_name": free_text,
        "is_deterministic": st.booleans(),
    },
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step=parallel_steps, step_name=names)
def test_generated_parallel_step_roundtrips(step, step_name):
    first, second, again = roundtrip(models.PipelineJob, {"type": "pipeline", "jobs": {step_name: step}})
    assert first == second
    assert again == dump(first)
    assert dump(first)["jobs"][step_name] == step  # nothing dropped or added
