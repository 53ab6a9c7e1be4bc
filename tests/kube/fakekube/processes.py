"""`PodProcess`: one pod container running as a local process group under the fake kubelet.

Exit codes are reported the way a container runtime does (killed by signal N -> 128 + N, so
kill -9 is 137 and SIGTERM 143). Like a runtime, a graceful stop signals the container's main
process only (`signal_main`: PID 1 of the container, which must stop its own children), while a
kill and the end of the container (`kill_all`: its main process has exited, so the runtime tears
down the PID namespace) reach the whole process group. Created by kubelet.py; tests reach it
through `FakeKubelet.processes()`.
"""
from __future__ import annotations

import os
import signal
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
    group_killed: bool = False  # the group got its final SIGKILL (at most once: the pgid may be reused later)

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
        """`sig` to the whole process group (the container's every process)."""
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def signal_main(self, sig: int) -> None:
        """`sig` to the main process only, as a runtime's graceful stop does (PID 1 of the container)."""
        if self.alive:
            try:
                os.kill(self.popen.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def kill_all(self) -> None:
        """SIGKILL whatever is left of the group once the main process is gone (once)."""
        if not self.group_killed:
            self.group_killed = True
            self.signal(signal.SIGKILL)
