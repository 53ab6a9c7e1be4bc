"""Job YAMLs that must be refused before anything runs (exit 2, FILE:LINE,
the field and the fix, no traceback) or that must not share or escape a run
folder, through the real ``pjob`` console script.
"""

import os

import pytest
from test_cli_edges import edit, pjob, write_job


def _refused(proc, *needles):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


def _everything_under(root) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        found.update(os.path.relpath(os.path.join(folder, n), root) for n in dirs + files)
    return found


# --- 5. names that escape the run folder ------------------------------------------------------------------------

BAD_NAMES = {
    "step": ("  step:\n", "  ../../../escaped:\n", 4, "jobs.../../../escaped"),
    "input": ("      docs:\n", "      ../docs:\n", 7, "inputs.../docs"),
    "output": ("      out:\n", "      out/../../escaped:\n", 11, "outputs.out/../../escaped"),
}


@pytest.mark.parametrize("what", list(BAD_NAMES))
def test_a_name_that_is_not_an_identifier_is_refused_before_anything_is_written(tmp_path, what):
    old, new, line, field = BAD_NAMES[what]
    work = tmp_path / "a" / "b" / "c"
    yml = write_job(work)
    edit(yml, old, new)
    if what == "input":
        edit(yml, "${{inputs.docs}}", "${{inputs.../docs}}")
    if what == "output":
        edit(yml, "${{outputs.out}}", "${{outputs.out/../../escaped}}")
    before = _everything_under(tmp_path)
    proc = pjob("run", yml, cwd=work)
    _refused(proc, f"pipeline.yml:{line}", field, "not a valid name", "letters, digits and underscores")
    assert _everything_under(tmp_path) - before <= {"a/b/c/pjob-runs"}, _everything_under(tmp_path) - before


def test_a_single_step_file_named_with_a_path_is_refused(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("a")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("def run(mb):\n    return mb\n")
    (tmp_path / "job.yml").write_text(
        "type: parallel\nname: ../../x\ninputs:\n  docs: {type: uri_folder, path: ./docs}\n"
        "input_data: ${{inputs.docs}}\ntask:\n  type: run_function\n  code: ./code\n  entry_script: score.py\n"
    )
    _refused(pjob("run", "job.yml", cwd=tmp_path), "job.yml:2", "name", "not a valid name")
    assert not (tmp_path.parent / "x").exists()


def test_two_non_ascii_display_names_get_two_run_folders(tmp_path):
    script = "import os\ndef run(mb):\n    return [os.environ['WHO'] for _ in mb]\n"
    yml = write_job(tmp_path, script)
    text = open(yml, encoding="utf-8").read()
    for who, display in (("first", "\u65e5\u672c"), ("second", "\u4e2d\u6587")):
        path = tmp_path / f"{who}.yml"
        path.write_text(
            text.replace("display_name: edge", f"display_name: {display}").replace(
                "    input_data:", f"    environment_variables:\n      WHO: {who}\n    input_data:"
            ),
            encoding="utf-8",
        )
        proc = pjob("run", path, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = sorted(os.listdir(tmp_path / "pjob-runs"))
    assert len([r for r in runs if not r.startswith(".")]) == 2, runs
    outputs = sorted(
        (tmp_path / "pjob-runs" / r / "steps" / "step" / "outputs" / "out" / "parallel_run_step.txt")
        .read_text()
        .split()[0]
        for r in runs
        if not r.startswith(".")
    )
    assert outputs == ["first", "second"]
