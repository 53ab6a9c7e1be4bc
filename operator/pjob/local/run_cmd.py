"""``pjob run FILE``: validate, then run the pipeline on this machine.

Exit 0 when it succeeded, 1 when it failed (``job_result.txt`` says why), 2 on
bad input. Progress (``pjob.local.display``): a live view per step on a
terminal, plain lines (at most one every few seconds) otherwise; at the end a
summary table and, for a failure, its cause and the next command to run.
"""

from __future__ import annotations

import os
import signal
import sys

from pjob.data import uris
from pjob.local import display as displaying
from pjob.local import inputs_check, machine_check, pipeline_run, python_env
from pjob.spec import checks, errors


def add_arguments(parser) -> None:
    parser.add_argument("file", help="pipeline (or parallel/command) job YAML")
    parser.add_argument(
        "--runs-dir",
        default="pjob-runs",
        help="where runs live (default ./pjob-runs); the run is <runs-dir>/<job-name>",
    )
    parser.add_argument(
        "--max-workers", type=int, default=None, help="cap on worker processes per instance on this machine"
    )
    parser.add_argument("--fresh", action="store_true", help="discard the previous run of this job and start over")
    parser.add_argument(
        "--retry-failed", action="store_true", help="when resuming, also re-run mini-batches that failed"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="P",
        help="serve Prometheus metrics of the run on http://127.0.0.1:P/metrics while it runs",
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="STEP=PATH",
        help="run parallel step STEP's workers with this Python (its own environment: pandas, pyarrow, the script's "
        "libraries); repeatable",
    )
    parser.add_argument(
        "--datastore",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="map azureml://datastores/NAME to a folder or URL (default <runs-dir>/datastores/NAME)",
    )


Display = displaying.Display  # pjob.sdk.client's run_local(show_progress=True) uses it


def ignored_environments(loaded) -> list[str]:
    """docs/writing-jobs.md, "The job YAML, key by key": locally, steps run with this Python; say what was ignored."""
    out = []
    for name, step in loaded.job.jobs.items():
        env = getattr(getattr(step, "task", None), "environment", None) or getattr(step, "environment", None)
        if env is None:
            continue
        what = (
            env
            if isinstance(env, str)
            else ", ".join(f"{k} {v}" for k, v in (("image", env.image), ("conda_file", env.conda_file)) if v)
        )
        if what:
            out.append(
                f"{loaded.file}: jobs.{name}: environment ({what}) is not used locally; "
                f"the step runs with this Python ({sys.executable}); install what it needs there"
                + (f", or give the step its own: --python {name}=PATH" if step.type == "parallel" else "")
            )
    return out


def print_summary(result: pipeline_run.PipelineResult, stream=sys.stdout) -> None:
    print(f"pipeline {result.status}: {result.run_dir}", file=stream)
    for report in result.steps.values():
        line = f"  {report.name} [{report.kind}]: {report.status}"
        if report.status == "Succeeded" and report.failed_mini_batches:
            line += (
                f" with {report.failed_mini_batches} failed mini-batch(es) ({report.failed_items} item(s) not in the output);"
                f" see {os.path.join(report.logs_dir or '', 'failed_mini_batches.jsonl')}; fix and re-run with --retry-failed"
            )
        elif report.reason:
            line += f" - {report.reason}"
        print(line, file=stream)
        for key, value in report.outputs.items():
            print(f"      output {key}: {value}", file=stream)
        if report.job_result:
            print(f"      result: {report.job_result}", file=stream)


def _with_metrics(port: int, job: str, display):
    """Serve /metrics on 127.0.0.1:port; returns the progress callback that feeds it."""
    from pjob.engine import metrics

    collector = metrics.JobMetrics()
    try:
        collector.serve(port)
    except OSError as exc:
        raise errors.UserError(
            f"cannot serve metrics on 127.0.0.1:{port} ({exc.strerror or exc}); choose a free port",
            field="--metrics-port",
        ) from None

    def progress(p) -> None:
        display.progress(p)
        if display.current is not None:
            collector.observe(job, display.current.name, p, display.work_dir(display.current.name))

    return progress


def _terminated(signum, frame) -> None:
    raise errors.Terminated()


def main(args) -> int:
    if args.max_workers is not None and args.max_workers < 1:
        raise errors.UserError(f"got {args.max_workers}; give a number of at least 1", field="--max-workers")
    # `timeout`, CI cancellation and systemd send SIGTERM: unwind like Ctrl-C so
    # command steps are stopped and the run can be resumed
    signal.signal(signal.SIGTERM, _terminated)
    loaded = checks.load_and_check(args.file)
    inputs_check.check_inputs(loaded)
    pythons = python_env.parse(args.python, loaded)
    python_env.check(pythons, loaded)
    for warning in loaded.warnings + ignored_environments(loaded) + machine_check.warnings(loaded, args.max_workers):
        print(f"warning: {warning}", file=sys.stderr)
    run_dir, note = pipeline_run.run_folder(loaded, args.runs_dir)
    if note:
        print(f"note: {note}", file=sys.stderr)
    display = displaying.Display(run_dir=run_dir, job_file=args.file)
    result = pipeline_run.run_pipeline(
        loaded,
        runs_dir=args.runs_dir,
        fresh=args.fresh,
        retry_failed=args.retry_failed,
        max_workers=args.max_workers,
        datastores=uris.parse_datastore_flags(args.datastore),
        progress=_with_metrics(args.metrics_port, pipeline_run.job_name(loaded), display)
        if args.metrics_port
        else display.progress,
        on_step=display.on_step,
        pythons=pythons,
    )
    print_summary(result)
    display.finish(result)
    return result.exit_code
