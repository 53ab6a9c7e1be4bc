"""`pjob run` shows a live view on a terminal (a bar per step, a line per
worker, a summary table, a failure's cause and the next command) and plain
lines when piped. The job's run() waits for a file the test creates once it
has seen the workers busy, so nothing depends on timing."""

import os
import pty
import select
import subprocess
import sys
import time

from pjobrun import ROOT, gated_job

EXAMPLE = os.path.join(ROOT, "examples", "file-processing", "pipeline.yml")


def _job(tmp_path, bad: bool = False):
    return gated_job(tmp_path, "gated", bad=2 if bad else None, error_threshold=0)


class Terminal:
    """`pjob ARGS` on a pseudo-terminal; ``expect`` reads until a text appears."""

    def __init__(self, args, env):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pjob.cli", *map(str, args)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
            env=dict(os.environ, COLUMNS="160", **env),
        )
        os.close(slave)
        self.out = b""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.out += data
        return bool(data)

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")

    def expect(self, needle: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if time.monotonic() > deadline or not self._read(min(1.0, deadline - time.monotonic())):
                self.proc.kill()
                raise AssertionError(f"never saw {needle!r} in:\n{self.text}")

    def finish(self, timeout: float = 120) -> int:
        while self._read(timeout):
            pass
        code = self.proc.wait(timeout=timeout)
        os.close(self.master)
        return code


def test_live_view_on_a_terminal(tmp_path):
    job, gate = _job(tmp_path), tmp_path / "gate"
    term = Terminal(["run", job, "--runs-dir", tmp_path / "runs"], {"PJOB_TEST_GATE": str(gate)})
    term.expect("process000: mini-batch")  # a worker line: busy on a mini-batch, for N s
    term.expect("process001: mini-batch")
    assert "━" in term.text  # rich's bar
    assert "0/4 mini-batches (0 failed), 0/4 items" in term.text
    gate.touch()
    code = term.finish()
    text = term.text
    assert code == 0, text
    assert "4/4 mini-batches (0 failed), 4/4 items (0 failed)" in text
    assert "Summary" in text and "RATE (THIS RUN)" in text and "4 ok, 0 failed / 4" in text
    assert "pipeline Succeeded" in text


def test_failure_cause_and_next_command_on_a_terminal(tmp_path):
    job, gate = _job(tmp_path, bad=True), tmp_path / "gate"
    gate.touch()
    term = Terminal(["run", job, "--runs-dir", tmp_path / "runs"], {"PJOB_TEST_GATE": str(gate)})
    code = term.finish()
    text = term.text
    assert code == 1, text
    assert "step score failed" in text
    assert "ValueError: cannot score d2.txt" in text  # the exception itself, not only the rule
    assert "pjob replay" in text and "--mini-batch 2" in text
    assert "--retry-failed" in text


def test_plain_lines_when_piped(tmp_path):
    job, gate = _job(tmp_path), tmp_path / "gate"
    gate.touch()
    proc = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "run", str(job), "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PJOB_TEST_GATE=str(gate)),
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr + proc.stdout  # no cursor moves, no colours
    assert "step score: 4/4 mini-batches (0 failed), 4/4 items (0 failed)" in proc.stderr
    assert "pipeline Succeeded" in proc.stdout
    assert "Summary:\n" in proc.stdout and "4 ok, 0 failed / 4" in proc.stdout


def test_example_still_runs_piped(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "run", EXAMPLE, "--runs-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "step count_words: 10/10 mini-batches (0 failed)" in proc.stderr
    assert "job_result.txt" in proc.stdout
