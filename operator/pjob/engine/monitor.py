"""Resource samples of one node: the agent's loop calls ``maybe_sample`` and
every ``--resource_monitor_interval`` seconds a line of CPU, memory and disk
usage goes to ``logs/sys/perf/<node>/node_resource_usage.csv`` (0 = off;
psutil is imported only when on). No thread: the agent forks its workers, and
a single-threaded process is what makes that safe. Called by
``pjob.engine.agent``.
"""

from __future__ import annotations

import datetime
import os
import time
import types

COLUMNS = "time,cpu_percent,memory_percent,memory_used_mb,disk_percent,disk_free_gb,agent_tree_rss_mb\n"


class Monitor:
    def __init__(self, path: str, interval: float, disk_path: str):
        self.path, self.interval, self.disk_path = path, interval, disk_path
        self.next_sample = 0.0  # the first call samples at once
        self.psutil: types.ModuleType | None = None  # imported on the first sample

    def maybe_sample(self, now: float | None = None) -> bool:
        if not self.interval or self.interval <= 0:
            return False
        now = time.monotonic() if now is None else now
        if now < self.next_sample:
            return False
        self.next_sample = now + self.interval
        try:
            line = self.sample()
            new = not os.path.exists(self.path)
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write((COLUMNS if new else "") + line)
        except Exception:  # a failed sample must never stop the job
            return False
        return True

    def sample(self) -> str:
        if self.psutil is None:
            import psutil

            self.psutil = psutil
        ps = self.psutil
        mem = ps.virtual_memory()
        disk = ps.disk_usage(self.disk_path)
        me = ps.Process()
        rss = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                rss += child.memory_info().rss
            except ps.Error:
                pass
        now = datetime.datetime.now().isoformat(timespec="seconds")
        return (
            f"{now},{ps.cpu_percent(None):.1f},{mem.percent:.1f},{mem.used / 2**20:.0f},"
            f"{disk.percent:.1f},{disk.free / 2**30:.2f},{rss / 2**20:.0f}\n"
        )
