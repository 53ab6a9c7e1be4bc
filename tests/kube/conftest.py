"""Fixtures of the Kubernetes tier beyond the real cluster ones (those live in
tests/cluster/realkube/fixtures.py and reach every folder through tests/conftest.py):

- `start_process(argv, env=None, name=None)` -> `ManagedProcess` (Popen with a log file; `.log()`,
  `.stop()`); every process started this way is stopped at teardown (SIGTERM, then SIGKILL).
- `wait_for_request(predicate, timeout)` -> the first request in the API server's audit log since
  the test started that satisfies `predicate(record)`, e.g. that an operator watches paralleljobs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from realkube.audit import RequestRecord
from realkube.harness import TestApi


@dataclass
class ManagedProcess:
    """A subprocess started by a test, with its combined output in `log_path`."""

    popen: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        return self.popen.returncode


@pytest.fixture
def start_process(tmp_path: Path, kube_env: dict[str, str]) -> Iterator[Callable[..., ManagedProcess]]:
    started: list[ManagedProcess] = []

    def start(
        argv: list[str], env: dict[str, str] | None = None, name: str | None = None, cwd: str | Path | None = None
    ) -> ManagedProcess:
        log_path = tmp_path / f"{name or Path(argv[0]).name}-{len(started)}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                argv, env=env or kube_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd
            )
        process = ManagedProcess(popen, log_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def wait_for_request(kube_api: TestApi) -> Callable[..., RequestRecord]:
    def wait(
        predicate: Callable[[RequestRecord], bool], timeout: float = 20.0, message: str = "a matching request"
    ) -> RequestRecord:
        return kube_api.wait_for(
            lambda: next((r for r in kube_api.requests if predicate(r)), None), timeout=timeout, message=message
        )

    return wait
