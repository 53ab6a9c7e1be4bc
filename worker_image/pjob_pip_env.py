#!/usr/bin/env python3
"""pjob-pip-env: install the pip packages of a conda environment file into a
cache directory, then run a command with them importable.

Installed in the pjob image as /usr/local/bin/pjob-pip-env. Off by default:
the operator prefixes a worker's command with it only when the chart value
``worker.pipFromCondaFile.enabled`` is true and the job has an
``environment.conda_file``:

    pjob-pip-env --conda-file /code/env.yml -- pjob agent --coordinator kube://ns/job

Only the ``pip:`` entries of the file's ``dependencies`` are installed (the
image already provides Python; conda packages are listed on stderr as not
installed, never silently dropped). Entries are pip arguments (``pkg==1.0``,
``-r requirements.txt``, ``--extra-index-url URL``) and run with the conda
file's folder as working directory, so relative paths work.

The install goes to ``<cache>/<key>`` where the key hashes the entries, the
extra pip arguments and the Python version; a completed install is reused by
every later pod that mounts the same cache (a ReadWriteMany claim) and is
published by an atomic rename, so two pods installing at once cannot leave a
half-written directory behind.

Environment: PJOB_CONDA_FILE (instead of --conda-file), PJOB_PIP_CACHE
(instead of --cache; default /var/cache/pjob-pip), PJOB_PIP_EXTRA_ARGS
(extra ``pip install`` arguments, shell-quoted). Exit 2 on a bad file.

SIGTERM is handled from the start (exit 143, the pip child killed, no
half-written cache folder left): as a pod's main process this is PID 1, which
the kernel never kills with a signal it has no handler for, so a pod deleted
during a long install would otherwise wait for SIGKILL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys

DEFAULT_CACHE = "/var/cache/pjob-pip"
COMPLETE = ".pjob-complete"


class CondaFileError(Exception):
    """A conda file that cannot be used; the message names file and fix."""


def read_pip_entries(conda_file: pathlib.Path) -> tuple[list[str], list[str]]:
    """(pip entries, conda packages that will not be installed)."""
    import yaml  # a pjob dependency, present in the image

    try:
        doc = yaml.safe_load(conda_file.read_text())
    except FileNotFoundError:
        raise CondaFileError(f"{conda_file}: no such conda file (environment.conda_file)") from None
    except yaml.YAMLError as exc:
        raise CondaFileError(f"{conda_file}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise CondaFileError(f"{conda_file}: expected a conda environment mapping (name, channels, dependencies)")
    deps = doc.get("dependencies") or []
    if not isinstance(deps, list):
        raise CondaFileError(f"{conda_file}: `dependencies` must be a list of packages and an optional `pip:` list")
    pip: list[str] = []
    conda: list[str] = []
    for dep in deps:
        if isinstance(dep, dict) and "pip" in dep:
            entries = dep["pip"] or []
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise CondaFileError(f"{conda_file}: `dependencies.pip` must be a list of strings")
            pip.extend(entries)
        else:
            conda.append(str(dep))
    return pip, conda


def cache_key(entries: list[str], extra_args: list[str]) -> str:
    payload = json.dumps({"pip": entries, "args": extra_args, "python": list(sys.version_info[:2])})
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def ensure_installed(entries: list[str], extra_args: list[str], cache: pathlib.Path, cwd: pathlib.Path) -> pathlib.Path:
    """The cache folder holding ``entries``, installing them first if needed."""
    target = cache / cache_key(entries, extra_args)
    if (target / COMPLETE).exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    args = [arg for entry in entries for arg in shlex.split(entry)]
    cmd = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
           "--target", str(staging), *extra_args, *args]
    print(f"pjob-pip-env: installing {len(entries)} pip entr{'y' if len(entries) == 1 else 'ies'} into {target}", file=sys.stderr)
    try:
        done = subprocess.run(cmd, cwd=cwd, stdout=sys.stderr)  # keep the command's stdout clean
    except BaseException:  # SIGTERM (SystemExit): run() has killed pip; leave no half-written folder
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(f"pjob-pip-env: pip install failed (exit {done.returncode}): {shlex.join(args)}")
    (staging / COMPLETE).write_text(json.dumps(entries))
    try:
        staging.rename(target)
    except OSError:  # another pod published the same install first
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / COMPLETE).exists():
            raise
    return target


def environment_with(target: pathlib.Path, env: dict[str, str]) -> dict[str, str]:
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join(p for p in (str(target / "bin"), env.get("PATH", "")) if p)
    return env


def _exit_stopped(signum, frame) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_stopped)  # PID 1 in the pod: no default action without a handler
    parser = argparse.ArgumentParser(prog="pjob-pip-env", description=__doc__.split("\n\n")[0])
    parser.add_argument("--conda-file", default=os.environ.get("PJOB_CONDA_FILE"), help="conda environment YAML")
    parser.add_argument("--cache", default=os.environ.get("PJOB_PIP_CACHE", DEFAULT_CACHE), help="install cache folder")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...] to run afterwards")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    env = dict(os.environ)
    if args.conda_file:
        conda_file = pathlib.Path(args.conda_file)
        try:
            entries, conda = read_pip_entries(conda_file)
        except CondaFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if conda:
            print(f"pjob-pip-env: not installed (conda packages; the image provides Python): {', '.join(conda)}", file=sys.stderr)
        if entries:
            extra = shlex.split(os.environ.get("PJOB_PIP_EXTRA_ARGS", ""))
            target = ensure_installed(entries, extra, pathlib.Path(args.cache), conda_file.resolve().parent)
            env = environment_with(target, env)
    os.execvpe(command[0], command, env)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
