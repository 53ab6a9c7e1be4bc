"""Helpers shared by the pjob.spec tests: fixture locations, text mutations of
the seed pipeline, line lookup in YAML text we wrote, and ways to run
``pjob validate`` (in-process through ``pjob.cli.main`` or as a real process).

Test folders are not packages; pytest puts this folder on ``sys.path``, so the
test modules import this one by name.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SEED_DIR = os.path.join(REPO, "tests", "fixtures", "seed")
SEED_PIPELINE = os.path.join(SEED_DIR, "pipeline.yml")
PROJECT_DIR = os.path.join(REPO, "tests", "fixtures", "spec", "project")
PJOB_SCRIPT = os.path.join(os.path.dirname(sys.executable), "pjob")  # console script of this venv

Mutation = Callable[[str], str]


def read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def seed_text() -> str:
    return read(SEED_PIPELINE)


def make_workspace(root: str) -> str:
    """Copy the seed folder and the spec project (code folders, components,
    data) into ``root`` so mutated pipelines written there find real files."""
    shutil.copytree(SEED_DIR, root, dirs_exist_ok=True)
    shutil.copytree(PROJECT_DIR, root, dirs_exist_ok=True)
    return root


# --- mutations of YAML text ---------------------------------------------------


def sub(old: str, new: str) -> Mutation:
    """Replace ``old`` (which must occur exactly once) by ``new``."""

    def apply(text: str) -> str:
        count = text.count(old)
        assert count == 1, f"mutation target {old!r} occurs {count} times"
        return text.replace(old, new)

    return apply


def append(block: str) -> Mutation:
    """Append ``block`` as written (e.g. more steps, indented two spaces,
    under the seed's ``jobs:``, which is the last top-level key)."""

    def apply(text: str) -> str:
        return text.rstrip("\n") + "\n" + block.lstrip("\n")

    return apply


def whole(new_text: str) -> Mutation:
    return lambda _text: textwrap.dedent(new_text).lstrip("\n") if new_text.strip() else new_text


def chain(*mutations: Mutation) -> Mutation:
    def apply(text: str) -> str:
        for mutate in mutations:
            text = mutate(text)
        return text

    return apply


def line_matching(text: str, pattern: str) -> int:
    """1-based number of the one line of ``text`` that matches regex ``pattern``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]
    assert len(hits) == 1, f"anchor {pattern!r} matches lines {hits}, expected exactly one"
    return hits[0]


# --- malformed cases ----------------------------------------------------------


@dataclasses.dataclass
class Case:
    """A malformed spec: ``mutate`` turns the seed text into the bad file;
    ``field`` and ``says`` must appear on one ``error:`` line, at the line of
    ``anchor`` (a regex matching one line of the file the error names; None
    when the problem has no line). ``extra`` are more files written beside
    the pipeline; ``error_file`` names the one the error is about."""

    id: str
    mutate: Mutation
    field: str
    says: str
    anchor: str | None
    extra: dict[str, str] = dataclasses.field(default_factory=dict)
    error_file: str | None = None


def write_case(case: Case, workspace: str) -> tuple[str, str, int | None]:
    """Write the case's files; return (pipeline path, path the error names, expected line)."""
    text = case.mutate(seed_text())
    path = os.path.join(workspace, f"case_{case.id}.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    for name, body in case.extra.items():
        os.makedirs(os.path.dirname(os.path.join(workspace, name)), exist_ok=True)
        with open(os.path.join(workspace, name), "w", encoding="utf-8") as fh:
            fh.write(textwrap.dedent(body).lstrip("\n"))
    error_path = os.path.join(workspace, case.error_file) if case.error_file else path
    line = None
    if case.anchor is not None:
        line = line_matching(read(error_path), case.anchor)
    return path, error_path, line


def assert_reported(stderr: str, error_path: str, line: int | None, field: str, says: str) -> None:
    """One ``error:`` line names the file, line and field and says ``says``."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert lines and all(ln.startswith(("error: ", "warning: ")) for ln in lines), stderr
    where = f"error: {error_path}:{line}:" if line is not None else f"error: {error_path}:"
    head = f"{where} {field}:" if field else where
    matching = [ln for ln in lines if ln.startswith(head) and says in ln[len(head) :]]
    assert matching, f"no error line starting {head!r} and containing {says!r} in:\n{stderr}"
    if line is None:
        assert all(not re.match(rf"error: {re.escape(error_path)}:\d+:", ln) for ln in matching), stderr


# --- running pjob validate ----------------------------------------------------


def validate_in_process(capsys, *args: str) -> tuple[int, str, str]:
    from pjob import cli

    capsys.readouterr()
    code = cli.main(["validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def pjob_subprocess(*args: str, cwd: str | None = None, module: bool = False) -> subprocess.CompletedProcess:
    """Run the real CLI (``args`` start with the subcommand): the console
    script, or ``python -m pjob.cli`` when ``module``."""
    cmd = [sys.executable, "-m", "pjob.cli", *args] if module else [PJOB_SCRIPT, *args]
    return subprocess.run(cmd, cwd=cwd or REPO, capture_output=True, text=True, timeout=60)
