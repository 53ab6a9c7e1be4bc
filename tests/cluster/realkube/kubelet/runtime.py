"""Containers as local processes: podinit.py in fresh mount and PID namespaces, inside a cgroup.

`Container.start` runs podinit (which bind-mounts the volumes and forks the main process as PID 1
of its namespace) with stdout/stderr to the container's log file. The pod's CPU and memory limits
become a cgroup (v1 `cpu.cfs_quota_us` / `memory.limit_in_bytes`, or v2 `cpu.max` / `memory.max`)
that is mounted over /sys/fs/cgroup inside the container, so code in it reads its own limits at the
standard paths, as in a real container. Where cgroups cannot be written, limits are not applied
(`cgroups_supported()` says so).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realkube.kubelet.podenv import parse_quantity

Obj = dict[str, Any]
PODINIT = Path(__file__).with_name("podinit.py")
ROOT = Path("/sys/fs/cgroup")
V2 = (ROOT / "cgroup.controllers").exists()
GROUP = "pjob-standin"


def cgroups_supported() -> bool:
    try:
        for folder in _cgroup_dirs("probe"):
            folder.parent.mkdir(exist_ok=True)
            folder.mkdir(exist_ok=True)
            folder.rmdir()
        return True
    except OSError:
        return False


def _v1_mount(controller: str) -> Path:
    """Where a v1 controller's hierarchy is mounted (`cpu` may be a link to `cpu,cpuacct`)."""
    path = (ROOT / controller).resolve()
    if not (path / "cgroup.procs").exists():
        raise OSError(f"no cgroup v1 {controller} hierarchy at {ROOT / controller}")
    return path


def _cgroup_dirs(name: str) -> list[Path]:
    if V2:
        return [ROOT / GROUP / name]
    return [_v1_mount("cpu") / GROUP / name, _v1_mount("memory") / GROUP / name]


def make_cgroup(name: str, limits: Obj) -> list[Obj]:
    """Create the container's cgroup with its limits; returns podinit's cgroup spec (dirs to join, mounts)."""
    cpu = limits.get("cpu")
    memory = limits.get("memory")
    out = []
    try:
        if V2:
            parent = ROOT / GROUP
            parent.mkdir(exist_ok=True)
            (ROOT / "cgroup.subtree_control").write_text("+cpu +memory")
            (parent / "cgroup.subtree_control").write_text("+cpu +memory")
            folder = parent / name
            folder.mkdir(exist_ok=True)
            if cpu:
                (folder / "cpu.max").write_text(f"{math.ceil(parse_quantity(str(cpu)) * 100000)} 100000")
            if memory:
                (folder / "memory.max").write_text(str(int(parse_quantity(str(memory)))))
            return [{"dir": str(folder), "mount": str(ROOT)}]
        cpu_dir, memory_dir = _cgroup_dirs(name)
        for folder in (cpu_dir, memory_dir):
            folder.parent.mkdir(exist_ok=True)  # inside a real hierarchy (checked by _v1_mount)
            folder.mkdir(exist_ok=True)
        if cpu:
            (cpu_dir / "cpu.cfs_period_us").write_text("100000")
            (cpu_dir / "cpu.cfs_quota_us").write_text(str(math.ceil(parse_quantity(str(cpu)) * 100000)))
        if memory:
            (memory_dir / "memory.limit_in_bytes").write_text(str(int(parse_quantity(str(memory)))))
        out = [
            {"dir": str(cpu_dir), "mount": str(_v1_mount("cpu"))},
            {"dir": str(memory_dir), "mount": str(_v1_mount("memory"))},
        ]
    except OSError:
        return []
    return out


def remove_cgroup(name: str) -> None:
    for folder in _cgroup_dirs(name):
        for _ in range(20):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # processes still leaving
                time.sleep(0.05)


@dataclass
class Container:
    """One run of one container of a pod."""

    name: str
    pod_name: str
    log_path: Path
    popen: subprocess.Popen
    pid_file: Path
    start_error_file: Path
    started_at: str
    term_sent_at: float | None = None
    kill_at: float | None = None
    extra: Obj = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        name: str,
        pod_name: str,
        run_dir: Path,
        argv: list[str],
        env: dict[str, str],
        cwd: str,
        mounts: list[Obj],
        cgroups: list[Obj],
        started_at: str,
    ) -> Container:
        run_dir.mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": argv,
            "env": env,
            "cwd": cwd,
            "mounts": mounts,
            "cgroups": cgroups,
            "pid_file": str(run_dir / f"{name}.pid"),
            "start_error_file": str(run_dir / f"{name}.start-error"),
        }
        for stale in (spec["pid_file"], spec["start_error_file"]):
            Path(stale).unlink(missing_ok=True)
        spec_path = run_dir / f"{name}.json"
        spec_path.write_text(json.dumps(spec))
        log_path = run_dir / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                [sys.executable, "-S", str(PODINIT), str(spec_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={},
                close_fds=True,
                start_new_session=True,
            )
        return cls(name, pod_name, log_path, popen, Path(spec["pid_file"]), Path(spec["start_error_file"]), started_at)

    @property
    def pid(self) -> int | None:
        return self.main_pid()

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def exit_code(self) -> int | None:
        code = self.popen.poll()
        return None if code is None else (code if code >= 0 else 128 - code)

    @property
    def start_error(self) -> str | None:
        return self.start_error_file.read_text() if self.start_error_file.exists() else None

    def main_pid(self, timeout: float = 5.0) -> int | None:
        """The host PID of the container's main process (PID 1 inside)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return int(self.pid_file.read_text())
            except (FileNotFoundError, ValueError):
                if not self.alive:
                    return None
                time.sleep(0.01)
        return None

    def signal_main(self, sig: int) -> None:
        """A runtime's stop signal goes to the container's main process only."""
        pid = self.main_pid()
        if pid is not None and self.alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the main process: the kernel then kills every process of its PID namespace."""
        self.signal_main(signal.SIGKILL)
