"""Per-attempt records of one agent: a CSV fragment
``<work_dir>/report/<start time>-node<node>.csv`` (merged by the driver into
``logs/sys/job_report/processed_mini-batches.csv``) and the human lines of
``logs/sys/node/<node>/<processNNN>.txt``. Also the agent's fatal record
(init-failure rule), read by the driver to explain the verdict.

Written by ``pjob.engine.agent``; merged/read by ``pjob.local.parallel_step``.
Rows are kept as tuples and turned into text in batches (``flush_rows``,
which the agent calls before the queue hears of the attempts, and at every
note, flush and exit): formatting one CSV row and one log line per
mini-batch as it finishes was a tenth of the agent's time with tiny
mini-batches. Files are buffered and flushed every few seconds and at exit.
"""

from __future__ import annotations

import csv
import datetime
import glob
import io
import os
import time
from typing import Any

from pjob.engine import fileio, logtree
from pjob.engine.task import ParallelTask

_last_second: list[Any] = [None, ""]


def _iso(t: float) -> str:
    """Local ISO time with milliseconds; the seconds part is formatted once
    per second (this runs for every mini-batch)."""
    second = int(t)
    if _last_second[0] != second:
        _last_second[0], _last_second[1] = second, datetime.datetime.fromtimestamp(second).isoformat()
    return f"{_last_second[1]}.{int((t - second) * 1000):03d}"


_QUOTED = frozenset(',"\r\n')  # characters csv.writer (QUOTE_MINIMAL) quotes a field for


def _plain(field: str) -> bool:
    """``field`` is written as it is by ``csv.writer`` (not quoted)."""
    return bool(field) and _QUOTED.isdisjoint(field)


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    # the last traceback line says what happened; the first names the log file
    return (lines[-1] if len(lines) > 1 else lines[0])[:300]


class AgentReport:
    def __init__(self, task: ParallelTask, node: str):
        self.node = node
        self.logs = logtree.LogTree(task.logs_dir)
        self.logs.make_node_dirs(node)
        folder = os.path.join(task.work_dir, "report")
        os.makedirs(folder, exist_ok=True)
        # one fragment per agent process, named by start time: merged in that order
        self._csv_file = open(
            os.path.join(folder, f"{time.time_ns():020d}-node{node}.csv"), "a", newline="", encoding="utf-8"
        )
        self._line = io.StringIO(newline="")
        self._line_csv = csv.writer(self._line)
        self._proc_files: dict[str, Any] = {}
        self._rows: list[tuple[Any, ...]] = []  # attempts not yet written

    def _proc(self, proc: str) -> Any:
        f = self._proc_files.get(proc)
        if f is None:
            f = self._proc_files[proc] = open(self.logs.node_process(self.node, proc), "a", encoding="utf-8")
        return f

    def attempt(
        self,
        lease: Any,
        proc: str,
        status: str,
        start: float,
        items: int,
        succeeded: int,
        failed: int,
        elapsed: float,
        run_s: float,
        error: str | None,
    ) -> None:
        self._rows.append(
            (lease.index, lease.attempt, proc, status, start, items, succeeded, failed, elapsed, run_s, error)
        )

    def _write_rows(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        node, csv_text = self.node, []
        lines: dict[str, list[str]] = {}
        for index, attempt, proc, status, start, items, succeeded, failed, elapsed, run_s, error in rows:
            when, first, label = _iso(start), _first_line(error) if error else "", f"{node}/{proc}"
            if not first and _plain(label):  # nothing to quote: the csv module's bytes, 3x faster
                csv_text.append(
                    f"{index},{attempt},{label},{when},{items},{succeeded},{failed},{elapsed:.4f},{run_s:.4f},{status},\r\n"
                )
            else:
                row = (index, attempt, label, when, items, succeeded, failed, f"{elapsed:.4f}", f"{run_s:.4f}", status)
                csv_text.append(self._csv_line((*row, first)))
            lines.setdefault(proc, []).append(
                f"{when} mini-batch {index} attempt {attempt}: {status} "
                f"{succeeded}/{items} items in {elapsed:.3f}s{(' - ' + first) if error else ''}\n"
            )
        self._csv_file.write("".join(csv_text))
        for proc, text in lines.items():
            self._proc(proc).write("".join(text))

    def _csv_line(self, row: tuple[Any, ...]) -> str:
        """One row as ``csv.writer`` writes it (quoted where it must be)."""
        self._line_csv.writerow(row)
        text = self._line.getvalue()
        self._line.seek(0)
        self._line.truncate()
        return text

    def note(self, proc: str, text: str) -> None:
        self._write_rows()  # the attempts before it stay before it
        self._proc(proc).write(f"{_iso(datetime.datetime.now().timestamp())} {text}\n")

    def flush_rows(self) -> None:
        """Hand the job report rows to the OS (a kill -9 of this process then
        keeps them). The agent calls it before it tells the coordinator of
        the attempts: once the queue counts an attempt, its row exists."""
        self._write_rows()
        self._csv_file.flush()

    def flush(self) -> None:
        self._write_rows()
        self._csv_file.flush()
        for f in self._proc_files.values():
            f.flush()

    def close(self) -> None:
        self._write_rows()
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


def merge_job_report(work_dir: str, destination: str) -> None:
    """One header, then every agent's fragment (all runs of this step,
    resumes included), node by node; rows within a node are in completion
    order. Streamed, never parsed."""
    staging = os.path.join(work_dir, "staging")
    fileio.remove_staged(destination, staging)
    tmp = fileio.staging_path(destination, staging, "report")
    try:
        with open(tmp, "wb") as out:
            out.write((",".join(logtree.REPORT_COLUMNS) + "\r\n").encode())
            for path in sorted(glob.glob(os.path.join(work_dir, "report", "*.csv"))):
                with open(path, "rb") as f:
                    data = f.read()
                out.write(data[: data.rfind(b"\n") + 1])  # drop a row torn by a killed agent
        os.replace(tmp, destination)
    except BaseException:
        fileio.discard(tmp)
        raise
