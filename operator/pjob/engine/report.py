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

The summary's slowest attempts: each fragment's ``SLOWEST_KEPT`` slowest
rows are kept beside it (``<fragment>.slowest.json``, rewritten at every
flush with the fragment's size then), so ``slowest_candidates`` reads a few
small files instead of a report with a row per mini-batch; a fragment whose
size differs (its agent was killed after its last flush) is read itself.
"""

from __future__ import annotations

import bisect
import csv
import datetime
import glob
import io
import json
import os
import time
from typing import Any

from pjob.engine import fileio, logtree
from pjob.engine.task import ParallelTask

_last_second: list[Any] = [None, ""]
SLOWEST_KEPT = 3  # per fragment: the summary shows the 3 slowest attempts of a step
_ID, _ELAPSED = logtree.REPORT_COLUMNS.index("mini_batch_id"), logtree.REPORT_COLUMNS.index("elapsed_seconds")


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
        self._csv_path = os.path.join(folder, f"{time.time_ns():020d}-node{node}.csv")
        self._csv_file = open(self._csv_path, "a", newline="", encoding="utf-8")
        self._slowest = SlowestRows()
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
        slowest = self._slowest
        for index, attempt, proc, status, start, items, succeeded, failed, elapsed, run_s, error in rows:
            if elapsed >= slowest.floor:
                slowest.add(index, elapsed)
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
        self._write_slowest()
        for f in self._proc_files.values():
            f.flush()

    def _write_slowest(self) -> None:
        """``<fragment>.slowest.json``: the fragment's slowest rows and its size now (flushed)."""
        size = os.fstat(self._csv_file.fileno()).st_size
        fileio.write_text_atomic(
            self._csv_path[: -len(".csv")] + SLOWEST_SUFFIX, json.dumps({"bytes": size, "rows": self._slowest.rows})
        )

    def close(self) -> None:
        self._write_rows()
        self._csv_file.flush()
        self._write_slowest()
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


SLOWEST_SUFFIX = ".slowest.json"


class SlowestRows:
    """The ``SLOWEST_KEPT`` slowest attempts seen, by their elapsed time as the
    report writes it (4 decimals): ``rows`` of [mini_batch_id, seconds], the
    slowest first, ties in the order they came (the rule of the summary's
    SLOWEST column, applied to each fragment). ``floor``: an attempt faster
    than this cannot enter (a cheap test before the exact one)."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.floor = float("-inf")

    def add(self, index: int, elapsed: float) -> None:
        seconds = float(f"{elapsed:.4f}")
        at = bisect.bisect_right(self.rows, -seconds, key=lambda row: -row[1])  # after the rows as slow as this one
        if at >= SLOWEST_KEPT:
            return
        self.rows.insert(at, [str(index), seconds])
        del self.rows[SLOWEST_KEPT:]
        if len(self.rows) == SLOWEST_KEPT:  # anything that rounds to more than the last one is above this
            self.floor = self.rows[-1][1] - 0.00005


def slowest_candidates(work_dir: str, n: int) -> list[tuple[str, str | None]]:
    """(mini_batch_id, elapsed_seconds text) of rows among which the ``n``
    slowest attempts of the step's report are, in report order: each
    fragment's kept slowest rows when they are current and enough (``n`` at
    most ``SLOWEST_KEPT``), else the fragment's own rows (a torn last row left out)."""
    out: list[tuple[str, str | None]] = []
    for path in sorted(glob.glob(os.path.join(work_dir, "report", "*.csv"))):
        kept = _kept_slowest(path) if n <= SLOWEST_KEPT else None
        if kept is not None:
            out += [(str(index), repr(seconds)) for index, seconds in kept]
            continue
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        text = data[: data.rfind(b"\n") + 1].decode("utf-8", errors="replace")
        out += [
            (r[_ID], r[_ELAPSED] if len(r) > _ELAPSED else None)
            for r in csv.reader(io.StringIO(text, newline=""))
            if r and r[0].isdigit()
        ]
    return out


def _kept_slowest(fragment: str) -> list[list[Any]] | None:
    """The kept slowest rows of ``fragment`` if they were written when it had its current size."""
    try:
        with open(fragment[: -len(".csv")] + SLOWEST_SUFFIX, encoding="utf-8") as f:
            kept = json.load(f)
        if kept["bytes"] == os.path.getsize(fragment):
            return list(kept["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None
