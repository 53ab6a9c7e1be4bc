"""The progress display of ``pjob run``: on a terminal a live view drawn
with ``rich`` (per step a bar with mini-batches and items done/total, failed,
rate and ETA over this run, and a line per worker saying what it does); plain
lines at most every few seconds otherwise (CI logs). At the end a summary
table per step, and for a failure its cause (the exception) and the next
command to run. What is said is ``pjob.local.progress_view``'s (pure); this
module reads the files it needs and draws. Used by ``pjob.local.run_cmd``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from pjob.engine import activity, finalise, jobview, report
from pjob.local import progress_view as view

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

PLAIN_SECONDS = 5.0
LIVE_SECONDS = 0.2  # redraw at most this often
ACTIVITY_SECONDS = 0.5


class Display:
    def __init__(self, stream=None, *, run_dir: str = "", job_file: str = "", live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.run_dir, self.job_file = run_dir, job_file
        self.steps: dict[str, view.StepProgress] = {}
        self.current: view.StepProgress | None = None
        self.last_plain = self.last_draw = self.last_activity = 0.0
        self.docs: list[dict] = []
        self._live: Live | None = None
        self._console: Console | None = None

    # --- events from the runner -----------------------------------------------------------

    def say(self, text: str) -> None:
        self._stop_live()
        print(text, file=self.stream, flush=True)

    def on_step(self, name: str, event: str) -> None:
        if event == "start":
            self.current = self.steps[name] = view.StepProgress(name, time.time())
            self.docs = []
            self.say(f"step {name}: started")
        elif event == "skip":
            self.say(f"step {name}: already succeeded, skipped (resumed run)")
        elif event == "resume-changed":
            self.say(
                f"warning: step {name}: its spec or code changed since the interrupted run; mini-batches already "
                "done keep the rows of the earlier code (run with --fresh to redo them)"
            )
        elif event == "rerun-input":
            self.say(
                f"step {name}: its input changed since it succeeded (files added, removed or modified); running it again"
            )
        elif event == "rerun":
            self.say(f"step {name}: changed since it succeeded (spec, code or an upstream step); running it again")
        elif event == "done":
            s = self.steps.get(name)
            if s is not None:
                s.finished = time.time()
                if s.last is not None:
                    self._draw(s.finished, final=True)
            self._stop_live()

    def progress(self, p) -> None:
        s, now = self.current, time.time()
        if s is None:
            return
        if s.first is None:
            s.items_total = _planned_items(self.work_dir(s.name))
        s.observe(p, now)
        finished = p.total and p.done + p.failed == p.total
        if self.live:
            if now - self.last_draw >= LIVE_SECONDS or finished:
                self._draw(now)
        elif now - self.last_plain >= PLAIN_SECONDS or finished:
            self.last_plain = now
            print(view.progress_line(s, now), file=self.stream, flush=True)

    # --- drawing ----------------------------------------------------------------------------

    def work_dir(self, step: str) -> str:
        return os.path.join(self.run_dir, "steps", step, "work")

    def _draw(self, now: float, final: bool = False) -> None:
        s = self.current
        if s is None or s.last is None or not self.live:
            return
        if now - self.last_activity >= ACTIVITY_SECONDS or final:
            self.docs = activity.read_all(self.work_dir(s.name))
            self.last_activity = now
        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            self._console = Console(file=self.stream, highlight=False)
            self._live = Live(console=self._console, auto_refresh=False, transient=False)
            self._live.start()
        self._live.update(self._renderable(s, now, final), refresh=True)
        self.last_draw = now

    def _renderable(self, s: view.StepProgress, now: float, final: bool = False):
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        p = s.last
        assert p is not None  # drawn once the step has been observed
        _, item_rate, eta = view.rates(s, now)
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            Text(f"step {s.name}", style="bold"),
            ProgressBar(total=max(p.total, 1), completed=p.done + p.failed, width=30),
            Text(
                f"{view.counts_text(s)}, {item_rate:.1f} items/s, elapsed {view.duration(now - s.started)}"
                + (f", ETA {view.duration(eta)}" if eta is not None else "")
            ),
        )
        lines = [] if final else [Text("  " + line, style="dim") for line in view.worker_lines(self.docs, now)]
        return Group(grid, *lines)

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- the end ------------------------------------------------------------------------------

    def finish(self, result, out=None) -> None:
        """The summary table per step, then each failure's cause and what to run next."""
        self._stop_live()
        out = out or sys.stdout
        now = time.time()
        rows = [
            view.summary_row(r, self.steps.get(name), _slowest(self.work_dir(name)), now)
            for name, r in result.steps.items()
        ]
        if self.live:
            from rich.console import Console
            from rich.table import Table

            table = Table(title="Summary", title_justify="left")
            for col in view.SUMMARY_HEADER:
                table.add_column(col)
            for row in rows:
                table.add_row(*row)
            Console(file=out, highlight=False).print(table)
        else:
            out.write("Summary:\n" + jobview.table([view.SUMMARY_HEADER] + rows))
        for name in result.steps:  # what planning skipped in the input (not regular files), said once
            skipped = _plan_note(self.work_dir(name), "skipped")
            if skipped:
                out.write(f"warning: step {name}: {skipped}\n")
        for name, r in result.steps.items():
            if r.status != "Failed" and not r.failed_mini_batches:
                continue
            error, index, open_next = view.first_error(jobview.read_text(r.job_result) if r.job_result else None)
            what = "failed" if r.status == "Failed" else f"succeeded with {r.failed_mini_batches} failed mini-batch(es)"
            out.write(f"\nstep {name} {what}" + (f": {r.reason}" if r.reason else "") + "\n")
            if error:
                out.write("cause" + (f" (mini-batch {index})" if index is not None else "") + ":\n")
                out.write("".join(f"  {line}\n" for line in view.console_cause(error).splitlines()))
            out.write(
                "next:\n"
                + "".join(
                    f"  {x}\n"
                    for x in view.next_steps(
                        job_file=self.job_file,
                        run_dir=_short(result.run_dir),
                        step=name,
                        failed_mini_batches=r.failed_mini_batches,
                        error_index=index,
                        open_next=open_next,
                        parallel=r.kind == "parallel",
                    )
                )
            )
        out.flush()


def _short(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _planned_items(work_dir: str) -> int | None:
    items = finalise.plan_header(work_dir).get("items")
    return items if isinstance(items, int) and items >= 0 else None


def _plan_note(work_dir: str, key: str) -> str | None:
    note = finalise.plan_header(work_dir).get(key)
    return note if isinstance(note, str) else None


def _slowest(work_dir: str, n: int = 3) -> list[tuple[str, float]]:
    """``progress_view.slowest`` of the step's job report rows, from what
    ``engine.report.slowest_candidates`` says they are among."""
    return view.slowest(report.slowest_candidates(work_dir, n), n)
