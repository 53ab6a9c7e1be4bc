"""Robustness of ``pjob validate`` (hypothesis): random edits of the seed
pipeline and of the spec fixtures with command and component steps (deleted, duplicated or re-indented lines, nasty values) must end in
exit 0 or exit 2 with ``error:`` lines, never in an unexpected exception or a
traceback. Runs ``pjob.cli.main`` in-process."""

from __future__ import annotations

import contextlib
import io
import os

import pytest
import spec_testlib as lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pjob import cli

BASES = [
    lib.seed_text().split("\n"),
    lib.read(os.path.join(lib.PROJECT_DIR, "inline_command.yml")).split("\n"),
    lib.read(os.path.join(lib.PROJECT_DIR, "component_command.yml")).split("\n"),
]
LONGEST = max(len(lines) for lines in BASES)
NASTY_VALUES = [
    "",
    "~",
    "null",
    "[]",
    "{}",
    "-1",
    "0",
    "1e309",
    "0x10",
    "'x'",
    '"',
    "[1, {a: 2}]",
    "*nowhere",
    "&a x",
    "!!python/object/apply:os.system ['true']",
    "!!binary aGk=",
    "${{",
    "${{inputs.}}",
    "$[[",
    "]]",
    "@x",
    "`x`",
    "%TAG",
    "yes",
    ".inf",
    "2026-01-01",
    "|",
    ">-",
    "? x",
    "- item",
    "x: y: z",
    "\t",
    "€uro",
    "${{parent.jobs..outputs.x}}",
]

edits = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, LONGEST - 1), st.just("")),
    st.tuples(st.just("duplicate"), st.integers(0, LONGEST - 1), st.just("")),
    st.tuples(st.just("indent"), st.integers(0, LONGEST - 1), st.sampled_from([" ", "  ", "\t"])),
    st.tuples(st.just("dedent"), st.integers(0, LONGEST - 1), st.just("")),
    st.tuples(st.just("value"), st.integers(0, LONGEST - 1), st.sampled_from(NASTY_VALUES)),
    st.tuples(st.just("value"), st.integers(0, LONGEST - 1), st.text(max_size=12)),
)


def apply_edits(lines: list[str], chosen) -> str:
    lines = list(lines)
    for kind, index, arg in chosen:
        index %= len(lines)
        line = lines[index]
        if kind == "delete":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, line)
        elif kind == "indent":
            lines[index] = arg + line
        elif kind == "dedent":
            lines[index] = line[2:] if line.startswith("  ") else line
        elif kind == "value" and ":" in line:
            lines[index] = line.split(":", 1)[0] + ": " + arg
        if not lines:
            lines = [""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return lib.make_workspace(str(tmp_path_factory.mktemp("fuzz")))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), chosen=st.lists(edits, min_size=1, max_size=3))
def test_edited_pipeline_never_crashes_validate(workspace, base, chosen):
    text = apply_edits(base, chosen)
    path = os.path.join(workspace, "fuzzed.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", path])
    assert code in (0, 2), err.getvalue()
    assert "Traceback" not in err.getvalue()
    problems = [ln for ln in err.getvalue().splitlines() if ln.startswith("error: ")]
    if code == 2:
        assert problems and all(ln.startswith(f"error: {path}") for ln in problems), err.getvalue()
    else:
        assert not problems and "valid pipeline" in out.getvalue()
