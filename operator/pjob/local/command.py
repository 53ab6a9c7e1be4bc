"""Run a ``type: command`` step on this machine: a shell command in the step's
code folder, bindings already substituted, outputs created first, stdout and
stderr into the step's log folder. Called by ``pjob.local.pipeline``."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

from pjob.spec import resolve


@dataclasses.dataclass
class CommandResult:
    status: str  # Succeeded | Failed
    exit_code: int | None
    reason: str
    logs_dir: str
    elapsed: float


def prepare_outputs(outputs: dict[str, resolve.DataValue]) -> None:
    for out in outputs.values():
        if "://" in out.location:
            continue
        os.makedirs(os.path.dirname(out.location) if out.type == "uri_file" else out.location, exist_ok=True)


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def run_command_step(step: resolve.ResolvedStep, step_dir: str, *, timeout: float | None = None) -> CommandResult:
    logs = os.path.join(step_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    prepare_outputs(step.outputs)
    cwd = step.code_dir or os.path.join(step_dir, "work")
    os.makedirs(cwd, exist_ok=True)
    env = dict(os.environ)
    env.update(step.env)
    # `python` in a command means the Python pjob runs under (the venv), like Azure's environment
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    out_path, err_path = os.path.join(logs, "stdout.txt"), os.path.join(logs, "stderr.txt")
    start = time.time()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(["/bin/sh", "-c", step.command], cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
            reason = "" if code == 0 else f"command exited with code {code}"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code, reason = None, f"command ran longer than limits.timeout ({timeout:g} s) and was killed"
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    status = "Succeeded" if code == 0 else "Failed"
    result = CommandResult(status, code, reason, logs, time.time() - start)
    lines = [f"Status: {status}", f"Command: {step.command}", f"Working folder: {cwd}", f"Elapsed: {result.elapsed:.1f} s"]
    if status != "Succeeded":
        lines += [f"Reason: {reason}", f"Last lines of {err_path}:", _tail(err_path) or "(empty)", f"Open {err_path} and {out_path} for the full output."]
    with open(os.path.join(logs, "job_result.txt"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return result
