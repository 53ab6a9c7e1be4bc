"""Resource samples of one node: a daemon thread in the agent appends CPU,
memory and disk usage to ``logs/sys/perf/<node>/node_resource_usage.csv``
every ``--resource_monitor_interval`` seconds (0 = off; psutil is imported
only when on). Started/stopped by ``pjob.engine.agent``.
"""

from __future__ import annotations

import datetime
import os
import threading

COLUMNS = "time,cpu_percent,memory_percent,memory_used_mb,disk_percent,disk_free_gb,agent_tree_rss_mb\n"


class _Monitor:
    def __init__(self, path: str, interval: float, disk_path: str):
        import psutil

        self.psutil = psutil
        self.path, self.interval, self.disk_path = path, interval, disk_path
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="pjob-resource-monitor", daemon=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as f:
                f.write(COLUMNS)
        self.psutil.cpu_percent(None)  # prime: the first call has no interval to measure
        self.thread.start()

    def sample(self) -> str:
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
        return (f"{now},{ps.cpu_percent(None):.1f},{mem.percent:.1f},{mem.used / 2**20:.0f},"
                f"{disk.percent:.1f},{disk.free / 2**30:.2f},{rss / 2**20:.0f}\n")

    def _loop(self) -> None:
        while True:
            try:
                line = self.sample()
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
            except Exception:  # a failed sample must never stop the job
                pass
            if self.stop_event.wait(self.interval):
                return


def start(path: str, interval: float, disk_path: str) -> "_Monitor | None":
    if not interval or interval <= 0:
        return None
    return _Monitor(path, interval, disk_path)


def stop(mon: "_Monitor | None") -> None:
    if mon is not None:
        mon.stop_event.set()
        mon.thread.join(timeout=2)
