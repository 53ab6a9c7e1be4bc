"""``pjob replay RUN_DIR --step S --mini-batch N``: re-run one mini-batch of a
local run in the foreground (same data, argv and environment a worker had),
so ``pdb``/an IDE debugger can attach, and print what ``run()`` returned.
Nothing is recorded in the run's queue or outputs."""

from __future__ import annotations

import os
import sys

from pjob.engine.task import ParallelTask
from pjob.spec import errors


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", help="the run folder, e.g. pjob-runs/<job-name>")
    parser.add_argument("--step", help="parallel step name (optional when the run has one parallel step)")
    parser.add_argument(
        "--mini-batch", type=int, required=True, help="mini-batch index (see processed_mini-batches.csv)"
    )
    parser.add_argument("--pdb", action="store_true", help="open pdb post-mortem when run() raises")


def _find_task(run_dir: str, step: str | None) -> ParallelTask:
    steps_dir = os.path.join(run_dir, "steps")
    if not os.path.isdir(steps_dir):
        raise errors.UserError(
            f"{run_dir} is not a pjob run folder (no steps/); give pjob-runs/<job-name>", field="run_dir"
        )
    parallel = sorted(
        s for s in os.listdir(steps_dir) if os.path.isfile(os.path.join(steps_dir, s, "work", "task.json"))
    )
    if step is None:
        if len(parallel) != 1:
            raise errors.UserError(
                f"choose a step with --step; parallel steps in this run: {', '.join(parallel) or '(none yet)'}",
                field="--step",
            )
        step = parallel[0]
    if step not in parallel:
        raise errors.UserError(
            f"step {step!r} has not been planned in {run_dir}; parallel steps: {', '.join(parallel) or '(none yet)'}",
            field="--step",
        )
    with open(os.path.join(steps_dir, step, "work", "task.json"), encoding="utf-8") as fh:
        return ParallelTask.from_json(fh.read())


def main(args) -> int:
    from pjob.local import replay_one

    task = _find_task(os.path.abspath(args.run_dir), args.step)
    try:
        result = replay_one.replay(task, args.mini_batch)
    except errors.UserError:
        raise
    except Exception:
        if args.pdb:
            import pdb

            pdb.post_mortem(sys.exc_info()[2])
        raise
    print(f"mini-batch {result.index}: {result.items} item(s), {result.succeeded} succeeded, {result.failed} failed")
    if result.warning:
        print(f"warning: {result.warning}")
    if result.error:
        print(f"error: {result.error}")
    if result.rows:
        print("rows this mini-batch contributes to the output:")
        sys.stdout.write(result.rows if result.rows.endswith("\n") else result.rows + "\n")
    return 0
