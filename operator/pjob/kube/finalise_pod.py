"""Finalisation of a ParallelJob, in its finaliser pod (``pjob finalise``,
``pjob.kube.finalise_cmd``; the operator only decides the verdict and waits
for the finaliser Job, ``pjob.kube.finaliser_job``): the engine's own
finalisation (``pjob.engine.finalise``, the same code ``pjob run`` uses)
writes the merged output, the job report, ``failed_mini_batches.jsonl``,
``job_error.txt`` and ``job_result.txt`` on the datastore. This module only
adds what the cluster needs: the case where no plan was ever published, and
explaining a deliberate worker exit (code 3: a fatal error of the job; code
4: the disk is full), both of which leave a fatal record in the work folder.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pjob.engine import fileio, logtree, manifest, policy, report, step_verdict
from pjob.engine.finalise import finalise as finalise_run
from pjob.engine.task import ParallelTask
from pjob.queue.protocol import Progress


def planned_count(task: ParallelTask) -> int:
    path = manifest.path_in(task.work_dir)
    if not os.path.exists(path):
        return 0
    header, _ = manifest.read_header_and_lines(path)
    return int(header["count"])


# the workers stopped on purpose (exit 3, or 4 for a full disk): the step's fatal error says why
# (engine.step_verdict: the same rules and message as pjob run)
QUEUE_REJECTED = step_verdict.QUEUE_REJECTED  # Failed reason QueueRejected: the API server refused the queue
QUEUE_REJECTED_PREFIX = step_verdict.QUEUE_REJECTED_PREFIX
_explained = step_verdict.explained


def finalise_unplanned(
    task: ParallelTask, verdict: policy.Verdict, *, started: float | None = None
) -> tuple[policy.Verdict, Progress]:
    """The job ended before node 0 published a plan (the input could not be
    planned, the workers never started): job_result.txt says why."""
    from pjob.coord import base

    tree = logtree.LogTree(task.logs_dir)
    os.makedirs(tree.root, exist_ok=True)
    fatal = report.read_fatal(task.work_dir)
    verdict = _explained(verdict, fatal)
    counters = base.Progress()
    fileio.write_text_atomic(
        tree.job_result,
        logtree.render_job_result(
            verdict_state=verdict.state,
            rule=verdict.rule,
            message=verdict.message,
            step=task.step,
            counters=counters,
            elapsed=time.time() - started if started else 0.0,
            output=None,
            first_error=fatal or verdict.message,
            first_error_index=None,
            next_file=tree.master_role,
            warnings=[],
        ),
    )
    return verdict, counters


def finalise(
    task: ParallelTask, coordinator: Any, verdict: policy.Verdict, *, started: float | None = None
) -> tuple[policy.Verdict, Any]:
    """Returns (final verdict, counters)."""
    tree = logtree.LogTree(task.logs_dir)
    os.makedirs(tree.root, exist_ok=True)
    count = planned_count(task)
    elapsed = time.time() - started if started else 0.0
    fatal = report.read_fatal(task.work_dir)
    verdict = _explained(verdict, fatal)
    return finalise_run(task, coordinator, tree, verdict, count=count, elapsed=elapsed, fatal=fatal)
