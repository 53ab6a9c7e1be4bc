"""load_component and command(): commandComponent YAML is validated by the
spec models (errors name file, line and field); steps made from it reference
the file; inline command steps take Azure's keyword arguments."""

import pytest
from pjob.sdk import Environment, Input, command, load_component
from pjob.spec import errors


def write(path, text):
    path.write_text(text)
    return path


def test_component_declarations_and_calls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path / "c.yml",
        "type: command\nname: c\ninputs:\n  a:\n    type: uri_file\noutputs:\n  o:\n    type: mltable\ncommand: echo ${{inputs.a}} ${{outputs.o}}\n",
    )
    comp = load_component(source="c.yml")
    assert comp.name == "c" and list(comp.inputs) == ["a"] and list(comp.outputs) == ["o"]
    assert comp.source == str(tmp_path / "c.yml")
    node = comp(a=Input(type="uri_file", path="./in.txt"))
    node.outputs.o.mode = "upload"
    assert node.render({}, str(tmp_path)) == {
        "type": "command",
        "component": "./c.yml",
        "inputs": {"a": {"type": "uri_file", "path": "./in.txt"}},
        "outputs": {"o": {"type": "mltable", "mode": "upload"}},  # declared type kept with the override
    }
    with pytest.raises(TypeError, match="'aa'.*did you mean 'a'"):
        comp(aa="x")


def test_component_yaml_problems_name_file_line_and_field(tmp_path):
    bad = write(
        tmp_path / "bad.yml", "type: command\ninputs:\n  a:\n    type: uri_fodler\ncommand: echo\ncomand: typo\n"
    )
    with pytest.raises(errors.UserError) as err:
        load_component(source=str(bad))
    lines = [str(p) for p in err.value.problems]
    assert any(f"{bad}:4: inputs.a.type" in line for line in lines), lines
    assert any(f"{bad}:6: comand" in line and "did you mean 'command'" in line for line in lines), lines
    with pytest.raises(errors.UserError, match="file not found"):
        load_component(source=str(tmp_path / "missing.yml"))
    parallel = write(tmp_path / "p.yml", "type: parallel\ninput_data: x\n")
    with pytest.raises(errors.UserError, match="parallel_run_function"):
        load_component(source=str(parallel))
    with pytest.raises(TypeError, match="'client' is not supported"):
        load_component(source=str(bad), client=object())


def test_inline_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    node = command(
        name="train",
        command="python train.py --d ${{inputs.d}}",
        code="./src",
        inputs={"d": Input(path="./data")},
        environment=Environment(image="python:3.11"),
        instance_count=2,
        display_name="Train",
    )
    node.set_limits(timeout=60)
    node.resources.instance_count = 3
    copied = node()
    copied.resources.shm_size = "1g"
    assert node.render({}, str(tmp_path)) == {
        "type": "command",
        "display_name": "Train",
        "resources": {"instance_count": 3},
        "command": "python train.py --d ${{inputs.d}}",
        "code": "./src",
        "environment": {"image": "python:3.11"},
        "limits": {"timeout": 60},
        "inputs": {"d": {"type": "uri_folder", "path": "./data"}},
    }
    assert copied.render({}, str(tmp_path))["resources"] == {"instance_count": 3, "shm_size": "1g"}
    assert comp_resources_settable(tmp_path)
    with pytest.raises(TypeError, match="'comand'.*did you mean 'command'"):
        command(comand="echo")
    with pytest.raises(TypeError, match="'command' is required"):
        command(code="./src")
    with pytest.raises(ValueError, match="'instance_count'"):
        command(command="echo", instance_count=0)


def comp_resources_settable(tmp_path):
    write(tmp_path / "d.yml", "type: command\ncommand: echo hi\n")
    node = load_component(source=str(tmp_path / "d.yml"))()
    node.resources.instance_count = 2
    with pytest.raises(ValueError, match="instance_count"):
        node.resources.instance_count = 0
    return node.render({}, None)["resources"] == {"instance_count": 2}
