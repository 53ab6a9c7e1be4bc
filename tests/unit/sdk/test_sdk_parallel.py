"""parallel_run_function: Azure's keyword arguments become a validated
ParallelStep; typos and bad values fail at construction naming the argument;
calling the result binds inputs and returns a new step."""

import pytest
from pjob.sdk import Input, Output, RunFunction, parallel_run_function
from pjob.sdk.parallel import ParallelNode


def make(**overrides):
    kwargs = dict(
        name="score",
        inputs=dict(
            data=Input(type="uri_folder", description="files"), model=Input(type="uri_folder", path="/models/m")
        ),
        outputs=dict(out=Output(type="uri_file")),
        input_data="${{inputs.data}}",
        instance_count=2,
        max_concurrency_per_instance=3,
        mini_batch_size="10",
        retry_settings=dict(max_retries=1, timeout=30),
        task=RunFunction(
            code="/code",
            entry_script="score.py",
            program_arguments="--model ${{inputs.model}}",
            append_row_to="${{outputs.out}}",
        ),
    )
    kwargs.update(overrides)
    return parallel_run_function(**kwargs)


def test_builds_a_parallel_step_with_every_setting():
    node = make(
        display_name="Score",
        description="d",
        tags={"a": "b"},
        partition_keys=["k"],
        mini_batch_error_threshold=3,
        error_threshold=7,
        logging_level="WARNING",
        environment_variables={"N": 1},
        instance_type="Standard_D2",
    )
    step = node(data="/data/in").render({}, None)
    assert step["inputs"] == {
        "data": {"type": "uri_folder", "path": "/data/in", "description": "files"},
        "model": {"type": "uri_folder", "path": "/models/m"},
    }
    assert step["type"] == "parallel"
    assert step["resources"] == {"instance_count": 2, "instance_type": "Standard_D2"}
    assert (step["mini_batch_size"], step["partition_keys"], step["max_concurrency_per_instance"]) == ("10", ["k"], 3)
    assert (step["mini_batch_error_threshold"], step["error_threshold"], step["logging_level"]) == (3, 7, "WARNING")
    assert step["retry_settings"] == {"max_retries": 1, "timeout": 30}
    assert step["environment_variables"] == {"N": "1"}
    assert step["task"]["entry_script"] == "score.py" and step["task"]["append_row_to"] == "${{outputs.out}}"
    assert step["outputs"] == {"out": {"type": "uri_file"}}


def test_the_acceptance_typo_names_the_argument():
    with pytest.raises(TypeError) as err:
        parallel_run_function(name="x", mini_batch_sise="5")
    assert "mini_batch_sise" in str(err.value) and "did you mean 'mini_batch_size'" in str(err.value)


@pytest.mark.parametrize(
    "overrides, argument",
    [
        (dict(mini_batch_size="10 kb"), "mini_batch_size"),
        (dict(mini_batch_size=[10]), "mini_batch_size"),
        (dict(instance_count=0), "instance_count"),
        (dict(instance_count="two"), "instance_count"),
        (dict(max_concurrency_per_instance="many"), "max_concurrency_per_instance"),
        (dict(logging_level="TRACE"), "logging_level"),
        (dict(retry_settings=dict(max_retries=1, timeout=0)), "retry_settings.timeout"),
        (dict(retry_settings=dict(max_retry=1)), "retry_settings.max_retry"),
        (dict(error_threshold=-5), "error_threshold"),
        (dict(partition_keys="store"), "partition_keys"),
        (dict(input_data="${{inputs.nope}}"), "input_data"),
        (dict(input_data="${{inputs.model}}x"), "input_data"),
        (dict(task=RunFunction(entry_script="s.py", append_row_to="${{outputs.missing}}")), "task.append_row_to"),
        (
            dict(task=RunFunction(entry_script="s.py", program_arguments="--x ${{inputs.nothing}}")),
            "task.program_arguments",
        ),
        (
            dict(task=RunFunction(entry_script="s.py", program_arguments="--x ${{input.data}}")),
            "task.program_arguments",
        ),
    ],
)
def test_bad_values_name_the_argument(overrides, argument):
    with pytest.raises(ValueError) as err:
        make(**overrides)
    assert f"'{argument}'" in str(err.value), str(err.value)


def test_wrong_types_and_missing_arguments():
    with pytest.raises(TypeError, match="'task' must be RunFunction"):
        make(task={"entry_script": "x.py"})
    with pytest.raises(TypeError, match="'input_data' is required"):
        make(input_data=None)
    with pytest.raises(TypeError, match="inputs.data: expected Input"):
        make(inputs=dict(data=object()))
    with pytest.raises(TypeError, match="'docker_args' is not supported by pjob"):
        make(docker_args="--ipc=host")
    with pytest.raises(ValueError, match="must be data"):
        make(inputs=dict(data=5, model=Input()))


def test_calling_binds_inputs_into_a_new_step_and_keeps_the_template():
    template = make()
    node = template(data=Input(type="mltable", path="/data/t", mode="direct"))
    assert isinstance(node, ParallelNode) and node is not template
    assert node.name is None and node.component_name == "score"  # the step is named in the pipeline
    assert node.inputs.data.path == "/data/t" and template.inputs.data.path is None
    assert node.inputs.model.path == "/models/m"  # bound at definition
    with pytest.raises(TypeError, match="'dta'.*did you mean 'data'"):
        template(dta="/x")
    with pytest.raises(TypeError, match="pass inputs by name"):
        template("/x")


def test_unbound_required_input_is_an_error_naming_it():
    with pytest.raises(ValueError, match="input 'data' has no value; pass data="):
        make().render({}, None)


def test_settings_are_validated_when_set_after_construction():
    node = make()(data="/data/in")
    node.mini_batch_size = "5mb"
    node.retry_settings.timeout = 120
    node.task.program_arguments = "--model ${{inputs.model}} --verbose"
    node.set_resources(instance_count=4)
    node.inputs.data.mode = "eval_mount"
    node.outputs.out.type = "uri_folder"
    node.environment_variables["MODE"] = "fast"
    step = node.render({}, None)
    assert step["environment_variables"] == {"MODE": "fast"}
    assert step["mini_batch_size"] == "5mb" and step["retry_settings"]["timeout"] == 120
    assert step["resources"]["instance_count"] == 4 and step["task"]["program_arguments"].endswith("--verbose")
    assert step["outputs"]["out"] == {"type": "uri_folder"}
    with pytest.raises(ValueError, match="mini_batch_size"):
        node.mini_batch_size = "lots"
    with pytest.raises(ValueError, match="timeout"):
        node.retry_settings.timeout = -1
    with pytest.raises(AttributeError, match="did you mean 'mini_batch_size'"):
        node.mini_batch_sise = "5"
    with pytest.raises(ValueError, match="inputs.data.mode"):
        node.inputs.data.mode = "readonly"
    with pytest.raises(AttributeError, match="no input 'dat'"):
        _ = node.inputs.dat
