"""`PodProcess`: one pod container running as a local process group under the fake kubelet.

Exit codes are reported the way a container runtime does (killed by signal N -> 128 + N, so
kill -9 is 137 and SIGTERM 143); signals go to the whole process group, so an agent's worker
processes die with it. Created by kubelet.py; tests reach it through `FakeKubelet.processes()`.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Obj = dict[str, Any]


@dataclass
class PodProcess:
    """A pod's running (or finished) container process."""

    namespace: str
    name: str
    uid: str
    container: str
    popen: subprocess.Popen
    log_path: Path
    started_at: str
    restart_count: int = 0
    last_state: Obj | None = None  # the previous run's terminated state, after a restart
    term_sent_at: float | None = None
    kill_at: float | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def exit_code(self) -> int | None:
        code = self.popen.poll()
        return None if code is None else (code if code >= 0 else 128 - code)

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
