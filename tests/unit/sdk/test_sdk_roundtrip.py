"""Property: whatever valid settings a parallel step is built with, the SDK's
model equals the model loaded back from its dumped YAML (one representation)."""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pjob.sdk import Input, Output, RunFunction, parallel_run_function, pipeline
from pjob.spec import load

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
texts = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
step_settings = st.fixed_dictionaries(
    {},
    optional={
        "display_name": texts,
        "description": texts,
        "tags": st.dictionaries(names, texts, max_size=2),
        "mini_batch_size": st.from_regex(r"[1-9][0-9]{0,3}([kKmMgG][bB])?", fullmatch=True),
        "partition_keys": st.lists(names, min_size=1, max_size=3),
        "instance_count": st.integers(1, 8),
        "max_concurrency_per_instance": st.integers(1, 16),
        "mini_batch_error_threshold": st.integers(-1, 100),
        "error_threshold": st.integers(-1, 100),
        "retry_settings": st.fixed_dictionaries(
            {}, optional={"max_retries": st.integers(0, 5), "timeout": st.integers(1, 259200)}
        ),
        "logging_level": st.sampled_from(["DEBUG", "INFO", "WARNING"]),
        "environment_variables": st.dictionaries(
            st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True), texts, max_size=2
        ),
    },
)
data_types = st.sampled_from(["uri_folder", "uri_file", "mltable"])
in_modes = st.sampled_from([None, "ro_mount", "download", "direct", "eval_mount", "eval_download"])
out_modes = st.sampled_from([None, "rw_mount", "upload", "direct"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kwargs=step_settings,
    in_type=data_types,
    in_mode=in_modes,
    out_type=data_types,
    out_mode=out_modes,
    append=st.booleans(),
    returned=st.booleans(),
    args=texts,
)
def test_built_equals_dumped_and_loaded(tmp_path, kwargs, in_type, in_mode, out_type, out_mode, append, returned, args):
    os.makedirs(tmp_path / "src", exist_ok=True)
    step = parallel_run_function(
        name="score",
        inputs=dict(data=Input(type=in_type, mode=in_mode)),
        outputs=dict(out=Output(type=out_type, mode=out_mode)),
        input_data="${{inputs.data}}",
        task=RunFunction(
            code=str(tmp_path / "src"),
            entry_script="score.py",
            program_arguments=args.replace("$", "") or None,
            append_row_to="${{outputs.out}}" if append else None,
        ),
        **kwargs,
    )

    @pipeline()
    def p(data):
        scored = step(data=data)
        return {"final": scored.outputs.out} if returned else None

    job = p(data=Input(type=in_type, path=str(tmp_path / "data")))
    dumped = tmp_path / "job.yml"
    job.dump(dumped)
    loaded = load.load_job(str(dumped))
    assert not loaded.problems, loaded.problems
    assert loaded.job == job.to_model(str(tmp_path))
