"""Run a ``type: command`` step on this machine (``pjob.local.pipeline_run``):
the engine's command runner in the step's folders, with the step's
environment variables and this Python's ``bin`` first on PATH (so ``python``
in a command is the Python pjob runs under, as Azure's environment would be)."""

from __future__ import annotations

import os
import sys

from pjob.engine import command_runner
from pjob.spec import resolve

CommandResult = command_runner.CommandResult


def output_locations(outputs: dict[str, resolve.DataValue]) -> dict[str, tuple[str, str]]:
    return {name: (out.type, out.location) for name, out in outputs.items()}


def prepare_outputs(outputs: dict[str, resolve.DataValue]) -> None:
    command_runner.prepare_outputs(output_locations(outputs))


def run_command_step(step: resolve.ResolvedStep, step_dir: str, *, timeout: float | None = None) -> CommandResult:
    assert step.command is not None  # a command step
    env = dict(os.environ)
    env.update(step.env)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return command_runner.run_command(
        step.command,
        logs_dir=os.path.join(step_dir, "logs"),
        cwd=step.code_dir or os.path.join(step_dir, "work"),
        outputs=output_locations(step.outputs),
        env=env,
        timeout=timeout,
    )
