"""A pipeline's ``type: command`` step inside its pod (``pjob agent
--command-step JSON``, built by ``pjob.kube.builders.build_command_job``):
create the outputs, run the command with ``/bin/sh -c`` in the code folder,
copy its stdout/stderr both to the container log and to
``<step>/logs/{stdout,stderr}.txt`` on the datastore, write
``logs/job_result.txt``, exit with the command's code (the Job has
backoffLimit 0, so a failure fails the step).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time


def _pump(src, dest_file, dest_stream) -> None:
    for chunk in iter(lambda: src.read1(65536), b""):
        dest_file.write(chunk)
        dest_file.flush()
        dest_stream.write(chunk)
        dest_stream.flush()


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def run(payload_json: str) -> int:
    payload = json.loads(payload_json)
    step_dir = payload["step_dir"]
    logs = os.path.join(step_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    for out in payload["outputs"].values():
        location = out["location"]
        if "://" not in location:
            os.makedirs(os.path.dirname(location) if out["type"] == "uri_file" else location, exist_ok=True)
    cwd = payload.get("code_dir") or os.path.join(step_dir, "work")
    os.makedirs(cwd, exist_ok=True)
    out_path, err_path = os.path.join(logs, "stdout.txt"), os.path.join(logs, "stderr.txt")
    timeout = payload.get("timeout")
    start = time.time()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(["/bin/sh", "-c", payload["command"]], cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        pumps = [threading.Thread(target=_pump, args=(proc.stdout, out, sys.stdout.buffer), daemon=True),
                 threading.Thread(target=_pump, args=(proc.stderr, err, sys.stderr.buffer), daemon=True)]
        for pump in pumps:
            pump.start()
        signal.signal(signal.SIGTERM, lambda *_: os.killpg(proc.pid, signal.SIGTERM))
        try:
            code = proc.wait(timeout=timeout)
            reason = "" if code == 0 else f"command exited with code {code}"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code, reason = 124, f"command ran longer than limits.timeout ({timeout:g} s) and was killed"
        for pump in pumps:
            pump.join(timeout=5)
    status = "Succeeded" if code == 0 else "Failed"
    lines = [f"Status: {status}", f"Command: {payload['command']}", f"Working folder: {cwd}",
             f"Elapsed: {time.time() - start:.1f} s"]
    if status != "Succeeded":
        lines += [f"Reason: {reason}", f"Last lines of {err_path}:", _tail(err_path) or "(empty)",
                  f"Open {err_path} and {out_path} for the full output."]
    with open(os.path.join(logs, "job_result.txt"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return 0 if code == 0 else (code if 0 < code < 256 else 1)
