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

from pjob.engine import fileio, logtree, manifest, policy, report
from pjob.engine import finalise as engine_finalise


def planned_count(task) -> int:
    path = manifest.path_in(task.work_dir)
    if not os.path.exists(path):
        return 0
    header, _ = manifest.read_header_and_lines(path)
    return int(header["count"])


QUEUE_REJECTED = "queue_rejected"  # Failed reason QueueRejected: the API server refused the queue ConfigMap
QUEUE_REJECTED_PREFIX = "the API server refused to"  # how pjob.coord.kube.QueueRejected's message starts


def _rule_of(fatal: str) -> str:
    if fatal.startswith(QUEUE_REJECTED_PREFIX):
        return QUEUE_REJECTED
    return policy.INIT_FAILURE if "init()" in fatal else policy.SYSTEM_ERROR


def _explained(verdict: policy.Verdict, fatal: str | None) -> policy.Verdict:
    """The workers stopped on purpose (exit 3, or 4 for a full disk): say why instead of "the worker Job failed"."""
    if fatal and verdict.state == policy.FAILED and verdict.rule == policy.SYSTEM_ERROR:
        return policy.Verdict(policy.FAILED, _rule_of(fatal.strip()), fatal.strip().splitlines()[0])
    return verdict


def finalise_unplanned(task, verdict: policy.Verdict, *, started: float | None = None):
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


def finalise(task, coordinator, verdict: policy.Verdict, *, started: float | None = None):
    """Returns (final verdict, counters)."""
    tree = logtree.LogTree(task.logs_dir)
    os.makedirs(tree.root, exist_ok=True)
    count = planned_count(task)
    elapsed = time.time() - started if started else 0.0
    fatal = report.read_fatal(task.work_dir)
    verdict = _explained(verdict, fatal)
    return engine_finalise.finalise(task, coordinator, tree, verdict, count=count, elapsed=elapsed, fatal=fatal)
