"""``pjob run FILE``: validate, then run the pipeline on this machine.

Exit 0 when it succeeded, 1 when it failed (``job_result.txt`` says why), 2 on
bad input. Progress: one live line per step on a terminal, plain lines
(at most one every few seconds) otherwise; a summary at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

from pjob.data import uris
from pjob.local import inputs_check, pipeline
from pjob.spec import checks, errors


def add_arguments(parser) -> None:
    parser.add_argument("file", help="pipeline (or parallel/command) job YAML")
    parser.add_argument("--runs-dir", default="pjob-runs", help="where runs live (default ./pjob-runs); the run is <runs-dir>/<job-name>")
    parser.add_argument("--max-workers", type=int, default=None, help="cap on worker processes per instance on this machine")
    parser.add_argument("--fresh", action="store_true", help="discard the previous run of this job and start over")
    parser.add_argument("--retry-failed", action="store_true", help="when resuming, also re-run mini-batches that failed")
    parser.add_argument(
        "--datastore", action="append", default=[], metavar="NAME=PATH",
        help="map azureml://datastores/NAME to a folder or URL (default <runs-dir>/datastores/NAME)",
    )


class Display:
    """Renders progress; ``live`` rewrites one line per step on a TTY."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.live = stream.isatty()
        self.step = ""
        self.started = time.time()
        self.last_plain = 0.0

    def on_step(self, name: str, event: str) -> None:
        if event == "start":
            self.step, self.started = name, time.time()
            print(f"step {name}: started", file=self.stream, flush=True)
        elif event == "skip":
            print(f"step {name}: already succeeded, skipped (resumed run)", file=self.stream, flush=True)
        elif event == "resume-changed":
            print(f"warning: step {name}: its spec or code changed since the interrupted run; mini-batches already done keep "
                  "the rows of the earlier code (run with --fresh to redo them)", file=self.stream, flush=True)
        elif event == "rerun-input":
            print(f"step {name}: its input changed since it succeeded (files added, removed or modified); running it again",
                  file=self.stream, flush=True)
        elif event == "rerun":
            print(f"step {name}: changed since it succeeded (spec, code or an upstream step); running it again", file=self.stream, flush=True)
        elif event == "done" and self.live:
            print(file=self.stream, flush=True)

    def progress(self, p) -> None:
        total, done, failed = getattr(p, "total", 0), getattr(p, "done", 0), getattr(p, "failed", 0)
        items = getattr(p, "items_succeeded", 0) + getattr(p, "items_failed", 0)
        elapsed = max(time.time() - self.started, 1e-6)
        finished = done + failed
        eta = (elapsed / finished) * (total - finished) if finished and total else None
        line = (
            f"step {self.step}: {finished}/{total} mini-batches ({failed} failed), "
            f"{items / elapsed:.1f} items/s, elapsed {elapsed:.0f}s" + (f", ETA {eta:.0f}s" if eta is not None else "")
        )
        now = time.time()
        if self.live:
            width = max(shutil.get_terminal_size((100, 20)).columns - 1, 20)
            print("\r" + line[:width].ljust(width), end="", file=self.stream, flush=True)
        elif now - self.last_plain >= 5 or (total and finished == total):
            self.last_plain = now
            print(line, file=self.stream, flush=True)


def ignored_environments(loaded) -> list[str]:
    """AZURE-COMPAT 1: locally, steps run with this Python; say what was ignored."""
    out = []
    for name, step in loaded.job.jobs.items():
        env = getattr(getattr(step, "task", None), "environment", None) or getattr(step, "environment", None)
        if env is None:
            continue
        what = env if isinstance(env, str) else ", ".join(
            f"{k} {v}" for k, v in (("image", env.image), ("conda_file", env.conda_file)) if v)
        if what:
            out.append(f"{loaded.file}: jobs.{name}: environment ({what}) is not used locally; "
                       f"the step runs with this Python ({sys.executable}); install what it needs there")
    return out


def print_summary(result: pipeline.PipelineResult, stream=sys.stdout) -> None:
    print(f"pipeline {result.status}: {result.run_dir}", file=stream)
    for report in result.steps.values():
        line = f"  {report.name} [{report.kind}]: {report.status}"
        if report.status == "Succeeded" and report.failed_mini_batches:
            line += (f" with {report.failed_mini_batches} failed mini-batch(es) ({report.failed_items} item(s) not in the output);"
                     f" see {os.path.join(report.logs_dir or '', 'failed_mini_batches.jsonl')}; fix and re-run with --retry-failed")
        elif report.reason:
            line += f" - {report.reason}"
        print(line, file=stream)
        for key, value in report.outputs.items():
            print(f"      output {key}: {value}", file=stream)
        if report.job_result:
            print(f"      result: {report.job_result}", file=stream)


def main(args) -> int:
    if args.max_workers is not None and args.max_workers < 1:
        raise errors.UserError(f"got {args.max_workers}; give a number of at least 1", field="--max-workers")
    # `timeout`, CI cancellation and systemd send SIGTERM: unwind like Ctrl-C so
    # command steps are stopped and the run can be resumed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    loaded = checks.load_and_check(args.file)
    inputs_check.check_inputs(loaded)
    for warning in loaded.warnings + ignored_environments(loaded):
        print(f"warning: {warning}", file=sys.stderr)
    display = Display()
    result = pipeline.run_pipeline(
        loaded,
        runs_dir=args.runs_dir,
        fresh=args.fresh,
        retry_failed=args.retry_failed,
        max_workers=args.max_workers,
        datastores=uris.parse_datastore_flags(args.datastore),
        progress=display.progress,
        on_step=display.on_step,
    )
    print_summary(result)
    return result.exit_code
