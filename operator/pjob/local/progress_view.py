"""What the progress display of ``pjob run`` says, as pure functions: rates
and ETA counted over this run only (a resumed step does not count the work
of earlier runs), the progress line, a line per worker, the summary rows and
what to do after a failure. ``pjob.local.display`` renders them (rich on a
terminal, plain lines otherwise) and reads the files they need.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pjob.engine import activity

if TYPE_CHECKING:
    from pjob.queue.protocol import Progress


@dataclasses.dataclass
class StepProgress:
    """One parallel step as seen by the display. ``first`` is the first
    counters seen in this run (work already done by earlier runs), taken
    when the step started here."""

    name: str
    started: float
    first: Progress | None = None
    last: Progress | None = None
    last_time: float = 0.0
    items_total: int | None = None  # from the plan; None when unknown
    finished: float | None = None

    def observe(self, p: Progress, now: float) -> None:
        if self.first is None:
            self.first = p
        self.last, self.last_time = p, now


def _items(p: Progress) -> int:
    return p.items_succeeded + p.items_failed


def rates(s: StepProgress, now: float) -> tuple[float, float, float | None]:
    """(mini-batches/s, items/s, ETA seconds or None) over this run only."""
    if s.first is None or s.last is None:
        return 0.0, 0.0, None
    elapsed = max((s.finished or now) - s.started, 1e-3)
    mbs = (s.last.done + s.last.failed) - (s.first.done + s.first.failed)
    items = _items(s.last) - _items(s.first)
    mb_rate, item_rate = max(mbs, 0) / elapsed, max(items, 0) / elapsed
    left = s.last.total - s.last.done - s.last.failed
    eta = left / mb_rate if mb_rate > 0 and left > 0 else None  # none left: no ETA to show
    return mb_rate, item_rate, eta


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def counts_text(s: StepProgress) -> str:
    p = s.last
    assert p is not None  # shown once the step has been observed
    finished = p.done + p.failed
    items = f"{_items(p)}/{s.items_total}" if s.items_total is not None else f"{_items(p)}"
    return f"{finished}/{p.total} mini-batches ({p.failed} failed), {items} items ({p.items_failed} failed)"


def progress_line(s: StepProgress, now: float) -> str:
    """The plain line: ``step S: 3/10 mini-batches (0 failed), 30/100 items (0 failed), 2.0 items/s, elapsed 4s, ETA 9s``."""
    _, item_rate, eta = rates(s, now)
    return f"step {s.name}: {counts_text(s)}, {item_rate:.1f} items/s, elapsed {duration(now - s.started)}" + (
        f", ETA {duration(eta)}" if eta is not None else ""
    )


def worker_lines(docs: list[dict], now: float) -> list[str]:
    """``node 0 process000: mini-batch 41 for 3 s`` for every worker of every agent."""
    out = []
    for doc in docs:
        for w in doc.get("workers") or []:
            out.append(f"node {doc.get('node')} {w.get('proc')}: {activity.describe(w, now)}")
        if doc.get("restarts"):
            out.append(f"node {doc.get('node')}: {doc['restarts']} worker restart(s) so far")
    return out


def slowest(timings: Iterable[tuple[str, str | None]], n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` slowest attempts of a job report, from its rows' (mini_batch_id,
    elapsed_seconds text): a missing or empty time counts 0, a bad one leaves
    the row out; ties keep the report's order."""
    timed = []
    for mini_batch, elapsed in timings:
        try:
            timed.append((mini_batch, float(elapsed or 0)))
        except ValueError:
            continue
    return heapq.nlargest(n, timed, key=lambda x: x[1])  # as sorted(..., reverse=True)[:n]: ties in order


def summary_row(report, s: StepProgress | None, slow: list[tuple[str, float]], now: float) -> list[str]:
    """[step, kind, status, mini-batches, items, time, rate, slowest] for one step (a ``pipeline.StepReport``)."""
    if s is None or s.last is None:
        return [
            report.name,
            report.kind,
            report.status,
            "-",
            "-",
            duration(None if s is None else (s.finished or now) - s.started),
            "-",
            "-",
        ]
    p = s.last
    _, item_rate, _ = rates(s, now)
    return [
        report.name,
        report.kind,
        report.status,
        f"{p.done} ok, {p.failed} failed / {p.total}",
        f"{p.items_succeeded} ok, {p.items_failed} failed",
        duration((s.finished or now) - s.started),
        f"{item_rate:.1f} items/s",
        ", ".join(f"#{i} {sec:.1f}s" for i, sec in slow) or "-",
    ]


SUMMARY_HEADER = ["STEP", "KIND", "STATUS", "MINI-BATCHES", "ITEMS", "TIME", "RATE (THIS RUN)", "SLOWEST"]


def first_error(job_result_text: str | None) -> tuple[str | None, int | None, str | None]:
    """(first error text, its mini-batch, the file to open next) from job_result.txt."""
    if not job_result_text:
        return None, None, None
    lines = job_result_text.splitlines()
    error, index, open_next, taking = [], None, None, False
    for line in lines:
        if line.startswith("first error"):
            taking = True
            if "(mini-batch " in line:
                index = int(line.split("(mini-batch ")[1].split(")")[0])
            continue
        if line.startswith("open next: "):
            open_next, taking = line[len("open next: ") :], False
            continue
        if line.startswith("last error"):  # the first error is the cause
            taking = False
            continue
        if taking:
            error.append(line)
    text = "\n".join(error).strip()
    return text or None, index, open_next


def next_steps(
    *,
    job_file: str,
    run_dir: str,
    step: str,
    failed_mini_batches: int,
    error_index: int | None,
    open_next: str | None,
    parallel: bool,
) -> list[str]:
    """What to run after a failure, most useful first."""
    out = []
    if open_next:
        out.append(f"read the log: {open_next}")
    if parallel and error_index is not None:
        out.append(f"debug one mini-batch: pjob replay {run_dir} --step {step} --mini-batch {error_index}")
    if parallel and failed_mini_batches:
        out.append(f"list every failure: pjob failed {run_dir}")
        out.append(f"after fixing: pjob run {job_file} --retry-failed")
    else:
        out.append(f"after fixing: pjob run {job_file}  (resumes; --fresh starts over)")
    return out


def console_cause(text: str) -> str:
    """A failure's cause as the terminal shows it: the summary, the innermost frame (where it was
    raised) and the exception; the full traceback stays in the log named under "next"."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Traceback (most recent call last):"), None)
    if start is None:
        return tail(text)
    frames = [i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith('File "')]
    if not frames:
        return tail(text)
    last = frames[-1]
    code = last + 1 if last + 1 < len(lines) and lines[last + 1].startswith(" " * 4) else last
    inner = [line.strip() for line in lines[last : code + 1]]
    exception = [line.strip() for line in lines[code + 1 :] if line.strip()]
    where = "at " + inner[0].removeprefix('File "').replace('", line ', ":", 1)
    return tail("\n".join(lines[:start] + [where] + [f"  {x}" for x in inner[1:]] + exception))


def tail(text: str, max_lines: int = 25) -> str:
    lines = text.splitlines()
    if len(lines) <= max_lines:
        return text
    return "\n".join(lines[:3] + [f"... ({len(lines) - max_lines + 3} lines, see the log)"] + lines[-(max_lines - 4) :])
