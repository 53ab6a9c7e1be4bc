"""`pjob run` shows live progress on a terminal (one rewritten line per step)
and plain lines when piped, then a summary naming job_result.txt."""

import os
import pty
import select
import subprocess
import sys

from pjobrun import ROOT

EXAMPLE = os.path.join(ROOT, "examples", "file-processing", "pipeline.yml")


def _run_on_a_tty(args, timeout=120):
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pjob.cli", *args], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError("pjob run produced no output for too long")
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=timeout)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_live_progress_on_a_terminal(tmp_path):
    code, out = _run_on_a_tty(["run", EXAMPLE, "--runs-dir", str(tmp_path / "runs")])
    assert code == 0, out
    assert "\rstep count_words: 10/10 mini-batches (0 failed)" in out
    assert "items/s" in out and "pipeline Succeeded" in out
    assert "job_result.txt" in out


def test_plain_progress_lines_when_piped(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "run", EXAMPLE, "--runs-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    assert "step count_words: 10/10 mini-batches (0 failed)" in proc.stderr
    assert "pipeline Succeeded" in proc.stdout
