"""Per-attempt records of one agent: a CSV fragment
``<work_dir>/report/<node>.csv`` (merged by the driver into
``logs/sys/job_report/processed_mini-batches.csv``) and the human lines of
``logs/sys/node/<node>/<processNNN>.txt``. Also the agent's fatal record
(init-failure rule), read by the driver to explain the verdict.

Written by ``pjob.engine.agent``; merged/read by ``pjob.local.parallel``.
Files are buffered and flushed every few seconds and at exit.
"""

from __future__ import annotations

import csv
import datetime
import glob
import os

from pjob.engine import logtree


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).isoformat(timespec="milliseconds")


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    # the last traceback line says what happened; the first names the log file
    return (lines[-1] if len(lines) > 1 else lines[0])[:300]


class AgentReport:
    def __init__(self, task, node: str):
        self.node = node
        self.logs = logtree.LogTree(task.logs_dir)
        self.logs.make_node_dirs(node)
        folder = os.path.join(task.work_dir, "report")
        os.makedirs(folder, exist_ok=True)
        self._csv_file = open(os.path.join(folder, f"{node}.csv"), "a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_file)
        self._proc_files: dict[str, object] = {}

    def _proc(self, proc: str):
        f = self._proc_files.get(proc)
        if f is None:
            f = self._proc_files[proc] = open(self.logs.node_process(self.node, proc), "a", encoding="utf-8")
        return f

    def attempt(self, lease, proc: str, status: str, start: float, items: int, succeeded: int, failed: int,
                elapsed: float, run_s: float, error: str | None) -> None:
        self._csv.writerow([lease.index, lease.attempt, f"{self.node}/{proc}", _iso(start), items, succeeded,
                            failed, f"{elapsed:.4f}", f"{run_s:.4f}", status, _first_line(error)])
        self._proc(proc).write(
            f"{_iso(start)} mini-batch {lease.index} attempt {lease.attempt}: {status} "
            f"{succeeded}/{items} items in {elapsed:.3f}s{(' - ' + _first_line(error)) if error else ''}\n"
        )

    def note(self, proc: str, text: str) -> None:
        self._proc(proc).write(f"{_iso(datetime.datetime.now().timestamp())} {text}\n")

    def flush(self) -> None:
        self._csv_file.flush()
        for f in self._proc_files.values():
            f.flush()

    def close(self) -> None:
        self._csv_file.close()
        for f in self._proc_files.values():
            f.close()
        self._proc_files.clear()


def write_fatal(work_dir: str, node: str, text: str) -> None:
    folder = os.path.join(work_dir, "fatal")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{node}.txt"), "w", encoding="utf-8") as f:
        f.write(text)


def read_fatal(work_dir: str) -> str | None:
    for path in sorted(glob.glob(os.path.join(work_dir, "fatal", "*.txt"))):
        with open(path, encoding="utf-8") as f:
            return f.read()
    return None


def merge_job_report(work_dir: str, destination: str) -> int:
    """Concatenate every agent's fragment (all runs of this step, resumes
    included) under one header, ordered by start time. Returns rows."""
    rows: list[list[str]] = []
    for path in glob.glob(os.path.join(work_dir, "report", "*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            rows.extend(r for r in csv.reader(f) if len(r) == len(logtree.REPORT_COLUMNS))
    rows.sort(key=lambda r: (r[3], int(r[0]), int(r[1])))
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    with open(destination, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(logtree.REPORT_COLUMNS)
        writer.writerows(rows)
    return len(rows)
