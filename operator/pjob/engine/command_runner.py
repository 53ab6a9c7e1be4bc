"""Run a ``type: command`` step's shell command: outputs created first,
``/bin/sh -c`` in the code folder, stdout/stderr into ``logs/stdout.txt`` and
``logs/stderr.txt`` (and, in a pod, also onto the container's own streams so
``kubectl logs`` shows them), a time limit, and ``logs/job_result.txt``.

One implementation for both places a command step runs: the local driver
(``pjob.local.command_step``) and a command-step pod (``pjob.kube.command_pod``).
"""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO

from pjob.engine import fileio

TIMEOUT_EXIT = 124  # what `timeout(1)` exits with; used when a pod's command is killed


@dataclasses.dataclass
class CommandResult:
    status: str  # Succeeded | Failed
    exit_code: int | None  # None when killed for exceeding the time limit
    reason: str
    logs_dir: str
    elapsed: float


def prepare_outputs(outputs: dict[str, tuple[str, str]]) -> None:
    """Create output folders (and the parent folder of uri_file outputs).
    ``outputs`` maps name -> (type, location); URLs are left alone."""
    for kind, location in outputs.values():
        if "://" in location:
            continue
        os.makedirs(os.path.dirname(location) if kind == "uri_file" else location, exist_ok=True)


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def _pump(src: io.BufferedReader, dest_file: IO[bytes], dest_stream: IO[bytes]) -> None:
    for chunk in iter(lambda: src.read1(65536), b""):
        dest_file.write(chunk)
        dest_file.flush()
        dest_stream.write(chunk)
        dest_stream.flush()


def run_command(
    command: str,
    *,
    logs_dir: str,
    cwd: str,
    outputs: dict[str, tuple[str, str]],
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    tee: bool = False,
    forward_sigterm: bool = False,
) -> CommandResult:
    """``tee``: copy output to this process's stdout/stderr too (pods).
    ``forward_sigterm``: a SIGTERM to this process terminates the command (pods)."""
    os.makedirs(logs_dir, exist_ok=True)
    prepare_outputs(outputs)
    os.makedirs(cwd, exist_ok=True)
    out_path, err_path = os.path.join(logs_dir, "stdout.txt"), os.path.join(logs_dir, "stderr.txt")
    start = time.time()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        pipe = subprocess.PIPE if tee else None
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=cwd, env=env, stdout=pipe or out, stderr=pipe or err, start_new_session=True
        )
        pumps = []
        if tee:
            pumps = [
                threading.Thread(target=_pump, args=(proc.stdout, out, sys.stdout.buffer), daemon=True),
                threading.Thread(target=_pump, args=(proc.stderr, err, sys.stderr.buffer), daemon=True),
            ]
            for pump in pumps:
                pump.start()
        if forward_sigterm:
            signal.signal(signal.SIGTERM, lambda *_: os.killpg(proc.pid, signal.SIGTERM))
        try:
            code = proc.wait(timeout=timeout)
            reason = "" if code == 0 else f"command exited with code {code}"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code, reason = None, f"command ran longer than limits.timeout ({timeout:g} s) and was killed"
        except BaseException:  # Ctrl-C of `pjob run`: never leave the command running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        for pump in pumps:
            pump.join(timeout=5)
    status = "Succeeded" if code == 0 else "Failed"
    result = CommandResult(status, code, reason, logs_dir, time.time() - start)
    lines = [f"Status: {status}", f"Command: {command}", f"Working folder: {cwd}", f"Elapsed: {result.elapsed:.1f} s"]
    if status != "Succeeded":
        lines += [
            f"Reason: {reason}",
            f"Last lines of {err_path}:",
            _tail(err_path) or "(empty)",
            f"Open {err_path} and {out_path} for the full output.",
        ]
    fileio.write_text_atomic(os.path.join(logs_dir, "job_result.txt"), "\n".join(lines) + "\n")
    return result
