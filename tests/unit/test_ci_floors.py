"""The floor-versions venv (`make test-floors`, called by .ci/run and the CI
workflow) pins pandas and pyarrow to the lowest versions pyproject.toml
admits, so raising or lowering a floor changes what CI tests."""

from __future__ import annotations

import importlib.util
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[2]


def _floors_module():
    spec = importlib.util.spec_from_file_location("ci_floors", REPO / ".ci" / "floors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_constraints_pin_the_pyproject_floors_and_drop_the_known_good_pins():
    pyproject = (REPO / "pyproject.toml").read_text()
    text = _floors_module().constraints(pyproject, (REPO / ".ci" / "constraints.txt").read_text())
    lines = text.splitlines()
    for name in ("pandas", "pyarrow"):
        floor = re.search(rf'"{name}>=([0-9.]+)"', pyproject).group(1)
        assert [ln for ln in lines if re.match(rf"{name}\b", ln)] == [f"{name}=={floor}"]
    assert [ln for ln in lines if ln.startswith("numpy")] == ["numpy<2"]
    assert any(ln.startswith("pydantic==") for ln in lines)  # everything else stays known-good


def test_ci_runs_the_floor_tests():
    assert re.search(r"^make test-floors\b", (REPO / ".ci" / "run").read_text(), re.M)
    assert "run: make test-floors" in (REPO / ".github" / "workflows" / "ci.yml").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test-floors:.*\n\t.*pytest .*\$\(FLOOR_TESTS\)", makefile, re.M)
    assert "tests/unit/data" in makefile and "tests/unit/engine" in makefile


def test_the_step_environment_check_asks_for_the_pyproject_floors():
    from pjob.engine import interpreter

    pyproject = (REPO / "pyproject.toml").read_text()
    for name, floor in interpreter.FLOORS.items():
        assert ".".join(map(str, floor)) == re.search(rf'"{name}>=([0-9.]+)"', pyproject).group(1)
