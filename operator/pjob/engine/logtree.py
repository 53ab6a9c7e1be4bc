"""The log tree of one parallel step (docs/writing-jobs.md, "The log tree"): where every
file lives, the readme that explains them, and the rendering of
``job_result.txt`` / ``job_error.txt``. Paths are computed here only, so the
driver, agents, workers and the operator agree on them.

Called by ``pjob.engine.agent`` / ``pjob.engine.worker`` (per-node files) and
``pjob.local.parallel_step`` (driver files, finalisation).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pjob.queue.protocol import Progress

REPORT_COLUMNS = [
    "mini_batch_id",
    "picked_count",
    "process",
    "start_time",
    "total_items",
    "succeeded_items",
    "failed_items",
    "elapsed_seconds",
    "run_seconds",
    "status",
    "error",
]

README = """\
pjob log folder of one parallel step. Start with job_result.txt.

job_result.txt                      final verdict; on failure: the rule that tripped, counts,
                                    the first error with its traceback and the file to open next
job_error.txt                       summary of errors raised by the entry script (all mini-batches)
failed_mini_batches.jsonl           one JSON line per failed mini-batch: index, locator, attempts, last error
job_progress_overview.<yyyymmddhh>.txt  progress lines: scheduled / processed / failed, items/s, ETA
sys/master_role.txt                 driver view: planning, scheduling, verdict
sys/node/<node>/<processNNN>.txt    one line per mini-batch attempt handled by that worker process
sys/job_report/processed_mini-batches.csv  one row per mini-batch attempt (status RUN_DONE, RUN_SHORT,
                                    RUN_EXCEPTION, RUN_TIMEOUT, LOAD_EXCEPTION, LOAD_TIMEOUT,
                                    WORKER_DIED, ADOPTED = committed by an interrupted earlier run)
sys/perf/<node>/node_resource_usage.csv  CPU / memory / disk samples every --resource_monitor_interval s
user/stdout/<node>/<processNNN>.stdout.txt  print() output of the entry script in that worker
user/stderr/<node>/<processNNN>.stderr.txt  stderr of the entry script in that worker
user/error/<node>/<processNNN>.txt  tracebacks of init()/run()/shutdown() failures in that worker
user/entry_script_log/<node>/<processNNN>.log.txt  EntryScript().logger output
"""


def process_name(slot: int) -> str:
    """Azure-style worker name within a node: process000, process001, ..."""
    return f"process{slot:03d}"


@dataclasses.dataclass(frozen=True)
class LogTree:
    root: str

    def _p(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def readme(self) -> str:
        return self._p("readme.txt")

    @property
    def job_result(self) -> str:
        return self._p("job_result.txt")

    @property
    def job_error(self) -> str:
        return self._p("job_error.txt")

    @property
    def failed_mini_batches(self) -> str:
        return self._p("failed_mini_batches.jsonl")

    def progress_overview(self, when: float) -> str:
        stamp = datetime.datetime.fromtimestamp(when).strftime("%Y%m%d%H")
        return self._p(f"job_progress_overview.{stamp}.txt")

    @property
    def master_role(self) -> str:
        return self._p("sys", "master_role.txt")

    @property
    def job_report(self) -> str:
        return self._p("sys", "job_report", "processed_mini-batches.csv")

    def node_process(self, node: str, proc: str) -> str:
        return self._p("sys", "node", node, f"{proc}.txt")

    def perf(self, node: str) -> str:
        return self._p("sys", "perf", node, "node_resource_usage.csv")

    def user_stdout(self, node: str, proc: str) -> str:
        return self._p("user", "stdout", node, f"{proc}.stdout.txt")

    def user_stderr(self, node: str, proc: str) -> str:
        return self._p("user", "stderr", node, f"{proc}.stderr.txt")

    def user_error(self, node: str, proc: str) -> str:
        return self._p("user", "error", node, f"{proc}.txt")

    def entry_script_log(self, node: str, proc: str) -> str:
        return self._p("user", "entry_script_log", node, f"{proc}.log.txt")

    def make_node_dirs(self, node: str) -> None:
        for sub in (
            ("sys", "node"),
            ("sys", "perf"),
            ("user", "stdout"),
            ("user", "stderr"),
            ("user", "error"),
            ("user", "entry_script_log"),
        ):
            os.makedirs(self._p(*sub, node), exist_ok=True)

    def make_driver_dirs(self) -> None:
        os.makedirs(self._p("sys", "job_report"), exist_ok=True)

    def write_readme(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        with open(self.readme, "w", encoding="utf-8") as f:
            f.write(README)


def next_file_for(status: str, node: str, proc: str) -> str:
    """The log file (relative to the log folder) that explains a failed attempt."""
    if status in ("WORKER_DIED", "INIT_DIED"):
        return f"user/stderr/{node}/{proc}.stderr.txt"
    if status in ("RUN_TIMEOUT", "LOAD_TIMEOUT", "RUN_SHORT"):
        return f"sys/node/{node}/{proc}.txt"
    return f"user/error/{node}/{proc}.txt"


_HEADER = re.compile(r"^\[node (?P<node>\S+) (?P<proc>\S+?),? .*?; see (?P<file>[^\]]+)\]", re.MULTILINE)


def attempt_header(node: str, proc: str, status: str, attempt: int) -> str:
    """First line of every error string an attempt reports: it names the log
    file to open, so job_result.txt can point at it (``file_named_in``)."""
    return f"[node {node} {proc}, attempt {attempt}: {status}; see {next_file_for(status, node, proc)}]"


def file_named_in(error: str | None) -> str | None:
    """The log file an error string's header points at (relative), if any."""
    m = _HEADER.search(error or "")
    return m.group("file") if m else None


def render_job_result(
    *,
    verdict_state: str,
    rule: str | None,
    message: str,
    step: str,
    counters: Progress,
    elapsed: float,
    output: str | None,
    first_error: str | None,
    first_error_index: int | None,
    next_file: str | None,
    warnings: list[str] | None = None,
    last_error: str | None = None,
) -> str:
    """Text of job_result.txt (pure)."""
    c = counters
    lines = [
        f"{verdict_state}: parallel step '{step}'",
        "",
        f"mini-batches: {c.total} total, {c.done} succeeded, {c.failed} failed, {c.pending + c.leased} not processed",
        f"items:        {c.items_succeeded} succeeded, {c.items_failed} failed",
        f"attempts:     {c.attempts}",
        f"elapsed:      {elapsed:.1f}s",
    ]
    if output:
        lines.append(f"output:       {output}")
    if verdict_state != "Succeeded":
        lines += ["", f"rule tripped: {rule}", f"why:          {message}"]
    elif message:
        lines += ["", message]
    for warning in warnings or ():
        lines.append(f"warning: {warning}")
    if first_error:
        where = f" (mini-batch {first_error_index})" if first_error_index is not None else ""
        lines += ["", f"first error{where}:", first_error.rstrip()]
    if first_error and last_error:  # the first error's mini-batch failed differently when retried
        where = f" (mini-batch {first_error_index})" if first_error_index is not None else ""
        lines += ["", f"last error{where}:", last_error.rstrip()]
    if next_file:
        lines += ["", f"open next: {next_file}"]
    return "\n".join(lines) + "\n"


def exception_summary(error: str | None) -> str:
    """``Type: message (File "...", line N, in f)`` of a traceback text (pure):
    the exception and the first frame of the user's code, for one-line summaries."""
    lines = [ln.strip() for ln in (error or "").strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    frame = next((ln for ln in lines if ln.startswith('File "')), None)
    return lines[-1][:300] + (f" ({frame})" if frame else "")
