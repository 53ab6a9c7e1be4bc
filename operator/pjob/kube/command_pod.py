"""A pipeline's ``type: command`` step inside its pod (``pjob agent
--command-step JSON``, built by ``pjob.kube.builders.build_command_job``):
the engine's command runner (``pjob.engine.command_runner``, the same one ``pjob
run`` uses) with the output also on the container's streams, then exit with
the command's code (the Job has backoffLimit 0, so a failure fails the step).
"""

from __future__ import annotations

import json
import os

from pjob.engine import command_runner


def run(payload_json: str) -> int:
    payload = json.loads(payload_json)
    step_dir = payload["step_dir"]
    result = command_runner.run_command(
        payload["command"],
        logs_dir=os.path.join(step_dir, "logs"),
        cwd=payload.get("code_dir") or os.path.join(step_dir, "work"),
        outputs={name: (out["type"], out["location"]) for name, out in payload["outputs"].items()},
        timeout=payload.get("timeout"),
        tee=True,
        forward_sigterm=True,
    )
    if result.exit_code is None:
        return command_runner.TIMEOUT_EXIT
    return result.exit_code if 0 <= result.exit_code < 256 else 1
