"""Finalisation of a ParallelJob by the operator, once its workers stopped:
merge the part files in mini-batch order into ``append_row_to``, write the
job report, ``failed_mini_batches.jsonl``, ``job_error.txt`` and
``job_result.txt`` on the datastore: the same files ``pjob run`` writes.

The engine's finalisation lives in ``pjob.local.finalise`` today, which
``pjob.kube`` may not import (sibling layers); when it moves to
``pjob.engine.finalise`` it is used as is. Until then this module calls the
same engine primitives (``results.merge`` makes the output bytes), in the
same order.
"""

from __future__ import annotations

import json
import os
import time

from pjob.engine import logtree, manifest, policy, report, results

try:  # the engine's own finalisation, once it lives in the engine layer
    from pjob.engine import finalise as engine_finalise  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the engine layout
    engine_finalise = None


def planned_count(task) -> int:
    path = manifest.path_in(task.work_dir)
    if not os.path.exists(path):
        return 0
    header, _ = manifest.read_header_and_lines(path)
    return int(header["count"])


def _explained(verdict: policy.Verdict, fatal: str | None) -> policy.Verdict:
    """The workers stopped on purpose (exit 3): say why instead of "the worker Job failed"."""
    if fatal and verdict.state == policy.FAILED and verdict.rule == policy.SYSTEM_ERROR:
        return policy.Verdict(policy.FAILED, policy.INIT_FAILURE if "init()" in fatal else policy.SYSTEM_ERROR,
                              fatal.strip().splitlines()[0])
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
    _write_result(tree, logtree.render_job_result(
        verdict_state=verdict.state, rule=verdict.rule, message=verdict.message, step=task.step, counters=counters,
        elapsed=time.time() - started if started else 0.0, output=None, first_error=fatal or verdict.message,
        first_error_index=None, next_file=tree.master_role, warnings=[]))
    return verdict, counters


def _write_result(tree: logtree.LogTree, text: str) -> None:
    tmp = tree.job_result + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, tree.job_result)


def finalise(task, coordinator, verdict: policy.Verdict, *, started: float | None = None):
    """Returns (final verdict, counters)."""
    tree = logtree.LogTree(task.logs_dir)
    os.makedirs(tree.root, exist_ok=True)
    count = planned_count(task)
    elapsed = time.time() - started if started else 0.0
    fatal = report.read_fatal(task.work_dir)
    verdict = _explained(verdict, fatal)
    if engine_finalise is not None:
        return engine_finalise.finalise(task, coordinator, tree, verdict, count=count, elapsed=elapsed, fatal=fatal)
    counters = coordinator.counters()
    merged = None
    if task.append_row_to:
        merged = results.merge(os.path.join(task.work_dir, "parts"), count, task.append_row_to,
                               dataframe_header=task.flags.append_row_dataframe_header)
    verdict = policy.final_output_verdict(verdict, counters.items_succeeded, bool(task.append_row_to))
    report.merge_job_report(task.work_dir, tree.job_report)
    failed = coordinator.records(state="failed")
    _write_failed_list(tree, task.work_dir, failed)
    _write_job_error(tree, failed)
    error, index = (fatal, None) if fatal else next(((r.error, r.index) for r in failed if r.error), (None, None))
    warnings = [f"{len(failed)} mini-batch(es) failed within the thresholds; see {tree.failed_mini_batches}"] \
        if verdict.state == policy.SUCCEEDED and failed else []
    named = logtree.file_named_in(error)
    next_file = os.path.join(tree.root, named) if named else (tree.failed_mini_batches if failed else None)
    text = logtree.render_job_result(
        verdict_state=verdict.state, rule=verdict.rule, message=verdict.message, step=task.step, counters=counters,
        elapsed=elapsed, output=task.append_row_to if merged is not None else None,
        first_error=error if (verdict.state != policy.SUCCEEDED or failed) else None, first_error_index=index,
        next_file=next_file, warnings=warnings)
    _write_result(tree, text)
    return verdict, counters


def _write_failed_list(tree: logtree.LogTree, work_dir: str, failed: list) -> None:
    lines = []
    if failed:
        _, descriptors = manifest.read_header_and_lines(manifest.path_in(work_dir))
        for rec in failed:
            locator = json.loads(descriptors[rec.index]) if rec.index < len(descriptors) else {}
            lines.append(json.dumps({"index": rec.index, "attempts": rec.attempts, "items_succeeded": rec.items_succeeded,
                                     "items_failed": rec.items_failed, "locator": locator, "error": rec.error}))
    with open(tree.failed_mini_batches, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


def _write_job_error(tree: logtree.LogTree, failed: list) -> None:
    parts = [f"{len(failed)} mini-batch(es) failed.\n"]
    for rec in failed[:20]:
        parts.append(f"\n--- mini-batch {rec.index} (attempts {rec.attempts}) ---\n{(rec.error or '').rstrip()}\n")
    with open(tree.job_error, "w", encoding="utf-8") as fh:
        fh.write("".join(parts) if failed else "no errors\n")
