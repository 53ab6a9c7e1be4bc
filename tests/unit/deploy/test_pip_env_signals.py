"""pjob-pip-env stops on SIGTERM during a long pip install (exit 143, pip
killed, no half-written cache folder), also when it starts with SIGTERM
ignored, which is what a pod's PID 1 without a handler amounts to (the kernel
never applies the default action to PID 1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from chart_render import REPO

PIP_ENV = REPO / "worker_image" / "pjob_pip_env.py"


def _ignore_sigterm():  # what PID 1 gets: no default action for SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def test_sigterm_during_the_pip_install_stops_pjob_pip_env(tmp_path):
    index = socket.socket()
    index.bind(("127.0.0.1", 0))
    index.listen(8)
    index.settimeout(120)
    conda = tmp_path / "env.yml"
    conda.write_text("dependencies:\n  - python=3.11\n  - pip:\n    - pjob-test-never-served==1.0\n")
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "PJOB_PIP_EXTRA_ARGS": f"--index-url http://127.0.0.1:{index.getsockname()[1]}/simple --timeout 120 --retries 0",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            str(PIP_ENV),
            "--conda-file",
            str(conda),
            "--cache",
            str(cache),
            "--",
            sys.executable,
            "-c",
            "print('not reached')",
        ],
        env=env,
        preexec_fn=_ignore_sigterm,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        connection, _ = index.accept()  # pip is installing now, waiting for an index that never answers
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        index.close()
    connection.close()
    assert proc.returncode == 143, err.decode(errors="replace")
    assert b"not reached" not in out
    assert [p.name for p in cache.iterdir()] == []  # the staging folder went with it
