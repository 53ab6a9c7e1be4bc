"""Finalisation of one parallel step, after its agents stopped: merge the
committed rows into ``append_row_to``, write the job report CSV,
``failed_mini_batches.jsonl``, ``job_error.txt`` and ``job_result.txt``.
The coordinator is injected (``counters()``, ``records(state=)``). Called by
``pjob.local.parallel_step.run_parallel_step`` and ``pjob.kube.finalise_pod``.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING, Any

from pjob.engine import errorlog, fileio, logtree, manifest, policy, report, results

if TYPE_CHECKING:
    from pjob.engine.task import ParallelTask
    from pjob.queue.protocol import BatchRecord, Coordinator, Progress


def failed_records(coordinator: Coordinator) -> list[BatchRecord]:
    return coordinator.records(state="failed")


def write_failed_list(logs: logtree.LogTree, work_dir: str, failed: list[BatchRecord]) -> None:
    """One JSON line per failed mini-batch: index, locator, attempts, items, last error."""
    lines = []
    if failed:
        _, descriptors = manifest.read_header_and_lines(manifest.path_in(work_dir))
        for rec in failed:
            locator = json.loads(descriptors[rec.index]) if rec.index < len(descriptors) else {}
            lines.append(
                json.dumps(
                    {
                        "index": rec.index,
                        "attempts": rec.attempts,
                        "items_succeeded": rec.items_succeeded,
                        "items_failed": rec.items_failed,
                        "locator": locator,
                        "error": rec.error,
                    }
                )
            )
    fileio.write_text_atomic(logs.failed_mini_batches, "".join(line + "\n" for line in lines))


def write_job_error(logs: logtree.LogTree, failed: list[BatchRecord]) -> None:
    parts = [f"{len(failed)} mini-batch(es) failed.\n"]
    for rec in failed[:20]:
        parts.append(f"\n--- mini-batch {rec.index} (attempts {rec.attempts}) ---\n{(rec.error or '').rstrip()}\n")
    if len(failed) > 20:
        parts.append(f"\n... {len(failed) - 20} more in failed_mini_batches.jsonl\n")
    with open(logs.job_error, "w", encoding="utf-8") as f:
        f.write("".join(parts) if failed else "no errors\n")


def staging_dir(task: ParallelTask) -> str:
    """Where end-of-step files are written before they are renamed into place."""
    return os.path.join(task.work_dir, "staging")


def remove_staged(task: ParallelTask) -> list[str]:
    """Staging files a killed finalisation left (the driver runs this before
    the step runs again, so nothing reads them as output)."""
    logs = logtree.LogTree(task.logs_dir)
    removed = fileio.remove_staged(logs.job_report, staging_dir(task))
    if task.append_row_to:
        removed += fileio.remove_staged(task.append_row_to, staging_dir(task))
    for path in (logs.job_result, logs.failed_mini_batches):  # write_text_atomic's, when killed mid-write
        removed += fileio.remove_atomic_leftovers(path)
    return removed


def merge_output(task: ParallelTask, count: int, scanner: results.Scanner | None = None) -> tuple[int, int] | None:
    if not task.append_row_to:
        return None
    return results.merge(
        results.parts_dir(task.work_dir),
        count,
        task.append_row_to,
        dataframe_header=task.flags.append_row_dataframe_header,
        staging_dir=staging_dir(task),
        scanner=scanner,
    )


def first_error(
    failed: list[BatchRecord], fatal: str | None, attempts: dict[int, list[dict[str, Any]]] | None = None
) -> tuple[str | None, int | None, str | None]:
    """``(first error, its mini-batch, that mini-batch's last error when it says
    something else)``. The first error is the earliest failed attempt of a
    failed mini-batch (``attempts``: ``errorlog.read``): the cause, where later
    retries may only show its consequences; the coordinator keeps the last."""
    if fatal:
        return fatal, None, None
    attempts = attempts or {}
    logged = [(attempts[rec.index][0]["time"], rec.index, rec) for rec in failed if attempts.get(rec.index)]
    if logged:
        _, index, rec = min(logged, key=lambda x: (x[0], x[1]))
        first, last = attempts[index][0]["error"], rec.error or attempts[index][-1]["error"]
        return first, index, (last if _body(last) != _body(first) else None)
    for rec in failed:
        if rec.error:
            return rec.error, rec.index, None
    return None, None, None


def _body(error: str | None) -> str:
    """An attempt's error without its header line (which names the attempt)."""
    text = (error or "").strip()
    return text.split("\n", 1)[1] if text.startswith("[") and "\n" in text else text


def plan_header(work_dir: str) -> dict[str, Any]:
    """The manifest's header (what planning noted), {} when unreadable."""
    try:
        return manifest.read_header(manifest.path_in(work_dir))
    except (OSError, ValueError):
        return {}


def _described_source(task: ParallelTask, count: int) -> str:
    """The input, and why it gave nothing when planning knew (a CSV with only a header)."""
    why = plan_header(task.work_dir).get("empty_because") if not count else None
    return f"{task.input_uri} ({why})" if why else task.input_uri


def next_file(logs: logtree.LogTree, verdict: policy.Verdict, error: str | None, has_failures: bool) -> str | None:
    named = logtree.file_named_in(error)
    if named:
        return os.path.join(logs.root, named)
    if verdict.rule in (policy.PROGRESS_UPDATE_TIMEOUT, policy.FIRST_TASK_CREATION_TIMEOUT, policy.SYSTEM_ERROR):
        return logs.master_role
    if has_failures:
        return logs.failed_mini_batches
    if verdict.rule == policy.NO_SUCCESSES:  # nothing failed: the report says what each run() returned
        return logs.job_report
    return None


def finalise(
    task: ParallelTask,
    coordinator: Coordinator,
    logs: logtree.LogTree,
    verdict: policy.Verdict,
    *,
    count: int,
    elapsed: float,
    fatal: str | None,
    scanner: results.Scanner | None = None,
) -> tuple[policy.Verdict, Progress]:
    """Write every end-of-step file; returns the final verdict and counters.
    ``scanner``: of the step's result segments, advanced while it ran."""
    counters = coordinator.counters()
    merged = merge_output(task, count, scanner)
    verdict = policy.final_output_verdict(
        verdict,
        counters.items_succeeded,
        bool(task.append_row_to),
        planned=count,
        source=_described_source(task, count),
        failures=counters.failed > 0 or counters.items_failed > 0,
    )
    report.merge_job_report(task.work_dir, logs.job_report)
    failed = failed_records(coordinator)
    write_failed_list(logs, task.work_dir, failed)
    write_job_error(logs, failed)
    error, error_index, last_error = first_error(failed, fatal, errorlog.read(task.work_dir))
    warnings: list[str] = []
    skipped = plan_header(task.work_dir).get("skipped")
    if skipped:  # dangling symlinks, FIFOs, ... in the input folder
        warnings.append(skipped)
    if verdict.state == policy.SUCCEEDED and failed:
        warnings.append(f"{len(failed)} mini-batch(es) failed within the thresholds; see {logs.failed_mini_batches}")
    output = task.append_row_to if merged is not None else None
    text = logtree.render_job_result(
        verdict_state=verdict.state,
        rule=verdict.rule,
        message=verdict.message,
        step=task.step,
        counters=counters,
        elapsed=elapsed,
        output=output,
        first_error=error if (verdict.state != policy.SUCCEEDED or failed) else None,
        first_error_index=error_index,
        last_error=last_error,
        next_file=next_file(logs, verdict, error, bool(failed)),
        warnings=warnings,
    )
    fileio.write_text_atomic(logs.job_result, text)
    if task.flags.copy_logs_to_parent and task.parent_logs_dir:
        # --copy_logs_to_parent: the pipeline's log folder gets this step's whole log tree
        shutil.copytree(logs.root, task.parent_logs_dir, dirs_exist_ok=True)
    return verdict, counters
