"""Input, Output, Environment, RunFunction: Azure's keyword arguments, values
validated at construction and on assignment, errors naming the argument,
relative paths resolved against the current directory."""

import os

import pytest
from pjob.sdk import AssetTypes, Environment, Input, InputOutputModes, Output, RunFunction


def test_input_keeps_azure_arguments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inp = Input(type=AssetTypes.MLTABLE, path="./data/", mode=InputOutputModes.DIRECT, description="rows")
    assert (inp.type, inp.mode, inp.description) == ("mltable", "direct", "rows")
    assert inp.path == os.path.join(str(tmp_path), "data")  # relative to the cwd at construction, as in Azure
    assert inp._to_dict(str(tmp_path)) == {"type": "mltable", "path": "./data", "mode": "direct", "description": "rows"}
    assert inp._to_dict(str(tmp_path / "sub"))["path"] == "../data"


def test_input_leaves_urls_references_and_bindings_alone():
    for path in ["azureml://datastores/ws/paths/x/", "s3://bucket/x", "azureml:my-data:1", "${{parent.inputs.x}}"]:
        assert Input(path=path).path == path


def test_input_literal_types():
    inp = Input(type="integer", default=5, min=1, max=10, optional=True)
    assert inp._to_dict() == {"type": "integer", "default": 5, "optional": True, "min": 1.0, "max": 10.0}
    with pytest.raises(ValueError, match="literal input takes default"):
        Input(type="string", path="./x")


def test_mount_mode_maps_to_pjob_modes():
    assert Input(mode=InputOutputModes.MOUNT).mode == "ro_mount"
    assert Output(mode=InputOutputModes.MOUNT).mode == "rw_mount"


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: Input(type="mltabel"), ["Input()", "'type'", "mltabel"]),
        (lambda: Input(mode="readonly"), ["'mode'", "readonly"]),
        (lambda: Output(type="uri_fodler"), ["Output()", "'type'", "uri_fodler"]),
        (lambda: Output(mode="ro_mount"), ["Output()", "'mode'", "ro_mount"]),
        (lambda: Input(type="integer", default=[1]), ["'default'"]),
    ],
)
def test_bad_values_fail_at_construction_naming_the_argument(make, words):
    with pytest.raises(ValueError) as err:
        make()
    for word in words:
        assert word in str(err.value)


def test_unknown_and_unsupported_keywords():
    with pytest.raises(TypeError, match="'pth'.*did you mean 'path'"):
        Input(type="uri_folder", pth="./x")
    with pytest.raises(TypeError, match="'datastore' is not supported by pjob"):
        Input(datastore="workspaceblobstore")
    with pytest.raises(TypeError, match="'name' is not supported by pjob"):
        Output(name="registered")
    with pytest.raises(TypeError, match="'imag'.*did you mean 'image'"):
        Environment(imag="x")


def test_assignment_is_validated():
    out = Output(type=AssetTypes.MLTABLE)
    out.type = AssetTypes.URI_FILE
    assert out.type == "uri_file"
    with pytest.raises(ValueError, match=r"Output.type = 'csv'"):
        out.type = "csv"
    with pytest.raises(AttributeError, match="did you mean 'mode'"):
        out.mdoe = "upload"


def test_environment_conda_file_is_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = Environment(image="python:3.11", conda_file="./env/conda.yml", name="prs-env", version=1)
    assert env._to_dict(str(tmp_path)) == {
        "name": "prs-env",
        "version": 1,
        "image": "python:3.11",
        "conda_file": "./env/conda.yml",
    }


def test_run_function(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task = RunFunction(
        code="./src",
        entry_script="score.py",
        program_arguments="--m ${{inputs.m}}",
        environment=Environment(image="img", conda_file="./src/env.yml"),
        append_row_to="${{outputs.o}}",
    )
    assert task._to_dict(str(tmp_path)) == {
        "type": "run_function",
        "code": "./src",
        "entry_script": "score.py",
        "environment": {"image": "img", "conda_file": "./src/env.yml"},
        "program_arguments": "--m ${{inputs.m}}",
        "append_row_to": "${{outputs.o}}",
    }
    task.environment = "azureml:env:1"
    assert task.environment == "azureml:env:1"
    with pytest.raises(TypeError, match="'entry_script' is required"):
        RunFunction(code="./src")
    with pytest.raises(TypeError, match="'model' is not supported"):
        RunFunction(entry_script="x.py", model="m")
    with pytest.raises(TypeError, match="environment must be an Environment"):
        RunFunction(entry_script="x.py", environment=42)
