"""``pjob status [RUN]``, ``pjob logs RUN`` and ``pjob failed RUN`` on local
run folders (``pjob-runs/<job>/``), printing what the cluster commands print
for a cluster job (``pjob.engine.jobview``). ``pjob.cli`` sends ``status`` and
``logs`` here when the argument is a local run (a run folder, or a job name
under ``--runs-dir``) or absent, and to ``pjob.kube.client_cmd`` otherwise.

Exit codes: 0 when the run could be shown, whatever its state; 2 when there
is no such run (the message names the runs dir).
"""

from __future__ import annotations

import os
import sys
import time

from pjob.engine import activity, jobview
from pjob.local import runview
from pjob.spec import errors

FOLLOW_SECONDS = float(os.environ.get("PJOB_FOLLOW_SECONDS") or 1)


def _runs_dir(p) -> None:
    p.add_argument("--runs-dir", default="pjob-runs", help="where local runs live (default ./pjob-runs)")


def _cluster_flags(p) -> None:
    """Accepted so one parser serves both; any of them sends the command to the cluster."""
    p.add_argument("-n", "--namespace", help="a cluster job's namespace (the job is looked up on the cluster)")
    p.add_argument("--kubeconfig", help="kubeconfig file, for a cluster job")
    p.add_argument("--context", help="kubeconfig context, for a cluster job")


def add_status_arguments(p) -> None:
    p.add_argument(
        "name",
        metavar="RUN",
        nargs="?",
        help="a run folder or job name (default: list the runs); a cluster job's name with -n/--kubeconfig",
    )
    _runs_dir(p)
    _cluster_flags(p)


def add_logs_arguments(p) -> None:
    p.add_argument("name", metavar="RUN", help="a run folder or job name, or a cluster job's name")
    _runs_dir(p)
    _cluster_flags(p)
    p.add_argument("--step", help="a pipeline step (default: every step's job_result.txt)")
    p.add_argument("--mini-batch", type=int, metavar="N", help="one mini-batch's worker log records")
    p.add_argument("--follow", action="store_true", help="wait until the job is no longer running, showing progress")
    p.add_argument(
        "--datastore-root",
        metavar="PATH_OR_URL",
        default=os.environ.get("PJOB_DATASTORE_ROOT") or None,
        help="for a cluster job: where its datastore is reachable from here",
    )


def add_failed_arguments(p) -> None:
    p.add_argument("name", metavar="RUN", help="a run folder or job name under --runs-dir")
    _runs_dir(p)
    p.add_argument("--step", help="only this parallel step")


def _run(args) -> str:
    run = runview.find_run(args.name, args.runs_dir)
    if run is None:
        runs = [os.path.basename(r) for r in runview.list_runs(args.runs_dir)]
        raise errors.UserError(
            f"no run {args.name!r} here or in {args.runs_dir}; runs there: {', '.join(runs) or '(none)'}; "
            "give a run folder, or --runs-dir; for a cluster job add -n NAMESPACE",
            field="RUN",
        )
    return run


def _steps(run: str, step: str | None, parallel_only: bool = False) -> list[str]:
    steps = {n: (s or {}).get("type", "parallel") for n, s in runview.spec_steps(run).items()}
    names = [n for n, k in steps.items() if k == "parallel" or not parallel_only]
    if step is not None:
        if step not in names:
            raise errors.UserError(
                f"no {'parallel ' if parallel_only else ''}step {step!r} in {run}; steps: "
                f"{', '.join(names) or '(none)'}",
                field="--step",
            )
        return [step]
    return names


def status_text(run: str) -> str:
    obj, children = runview.run_object(run)
    text = jobview.format_status(obj, children, [])
    if obj["status"]["state"] == jobview.RUNNING:
        now, lines = time.time(), []
        for step, entry in obj["status"]["steps"].items():
            if entry["state"] == "Running" and entry["kind"] == "parallel":
                lines += [
                    f"  {step}: node {d.get('node')} {w.get('proc')}: {activity.describe(w, now)}"
                    for d in runview.workers(run, step)
                    for w in d.get("workers") or []
                ]
        if lines:
            text += "Workers:\n" + "\n".join(lines) + "\n"
    return text


def runs_table(runs_dir: str) -> str:
    rows = [["RUN", "STATE", "STEPS", "PROGRESS", "FOLDER"]]
    for run in runview.list_runs(runs_dir):
        obj, children = runview.run_object(run)
        steps = obj["status"]["steps"]
        done = sum(1 for s in steps.values() if s["state"] == "Succeeded")
        progress = "; ".join(f"{n}: {jobview.progress_text(c['status'])}" for n, c in children.items()) or "-"
        rows.append([obj["metadata"]["name"], obj["status"]["state"], f"{done}/{len(steps)} succeeded", progress, run])
    if len(rows) == 1:
        return f"no runs in {os.path.abspath(runs_dir)}\n"
    return jobview.table(rows)


def status_main(args) -> int:
    if args.name is None:
        sys.stdout.write(runs_table(args.runs_dir))
        return 0
    sys.stdout.write(status_text(_run(args)))
    return 0


def logs_main(args) -> int:
    run = _run(args)
    if args.follow:
        last = None
        while True:
            obj, children = runview.run_object(run)
            if obj["status"]["state"] != jobview.RUNNING:
                break
            line = "; ".join(f"{n}: {jobview.progress_text(c['status'])}" for n, c in children.items())
            if line != last:
                print(f"Running: {line}", file=sys.stderr, flush=True)
                last = line
            time.sleep(FOLLOW_SECONDS)
    if args.mini_batch is not None:
        steps = _steps(run, args.step, parallel_only=True)
        if len(steps) != 1:
            raise errors.UserError(
                f"name the parallel step: --step S (one of {', '.join(steps)})", field="--mini-batch"
            )
        text = jobview.mini_batch_log(runview.step_dirs(run, steps[0])[1], args.mini_batch)
        if text is None:
            raise errors.UserError(
                f"no record of mini-batch {args.mini_batch} in step {steps[0]} of {run}", field="--mini-batch"
            )
        sys.stdout.write(text)
        return 0
    steps = _steps(run, args.step)
    for step in steps:
        path = os.path.join(runview.step_dirs(run, step)[1], "job_result.txt")
        text = jobview.read_text(path)
        if len(steps) > 1:
            print(f"== step {step}")
        if text is None:
            print(f"(no job_result.txt yet in {os.path.dirname(path)})", file=sys.stderr)
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def failed_main(args) -> int:
    run = _run(args)
    sys.stdout.write(runview.format_failed(run, _steps(run, args.step, parallel_only=True)))
    return 0
