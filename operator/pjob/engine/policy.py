"""Pure decisions of a parallel step (docs/writing-jobs.md, "When does a job fail?"), one function
per rule, no I/O. Called by the worker (how many items a run() call
succeeded), the agent (timeouts, the init-failure rule) and the local driver /
operator (the job verdict over coordinator counters). Table-driven tests:
``tests/unit/engine/test_policy.py``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pjob.engine.task import ParallelTask
    from pjob.queue.protocol import Progress

# Verdict rules: the reason a job failed (also written into job_result.txt).
MINI_BATCH_ERROR_THRESHOLD = "mini_batch_error_threshold"
ERROR_THRESHOLD = "error_threshold"
ALLOWED_FAILED_PERCENT = "allowed_failed_percent"
PROGRESS_UPDATE_TIMEOUT = "progress_update_timeout"
FIRST_TASK_CREATION_TIMEOUT = "first_task_creation_timeout"
INIT_FAILURE = "init_failure"
NO_SUCCESSES = "no_successes"
SYSTEM_ERROR = "system_error"

RUNNING, SUCCEEDED, FAILED = "Running", "Succeeded", "Failed"

RETRY_HINT = "; fix the cause, then run the same command with --retry-failed to run the failed mini-batches again"

INIT_FAILURES_PER_WORKER = 3  # 3 x concurrency consecutive init failures fail the job


class Returns(NamedTuple):
    """How one finished run() call counts: items succeeded/failed, plus an
    error (short returns: the mini-batch counts as failed, not retried), a
    warning (more returns than inputs: capped) or a note (short returns not
    counted, ``error_threshold: -1``). A named tuple: a worker makes one per
    mini-batch."""

    succeeded: int
    failed: int
    error: str | None = None
    warning: str | None = None
    note: str | None = None


def count_returns(items: int, returned: int, *, short_returns_fail: bool = True) -> Returns:
    """docs/writing-jobs.md, "The entry script": the number of returned elements is the number of
    succeeded items. ``items`` < 0 means unknown (estimated byte ranges):
    every return counts as a success. ``short_returns_fail`` is False under
    ``error_threshold: -1``: as on Azure, fewer returns than inputs then count
    as neither failed items nor a failed mini-batch (run() may write its
    results elsewhere and return ``[]``)."""
    if items < 0:
        return Returns(returned, 0)
    if returned < items and not short_returns_fail:
        return Returns(
            returned,
            0,
            note=f"run() returned {returned} result(s) for {items} input item(s); "
            "not counted as failures (error_threshold is -1)",
        )
    if returned < items:
        return Returns(
            returned,
            items - returned,
            error=f"run() returned {returned} result(s) for {items} input item(s): "
            f"{items - returned} item(s) counted as failed (short returns are not retried)",
        )
    if returned > items:
        return Returns(
            items,
            0,
            warning=f"run() returned {returned} result(s) for {items} input item(s): "
            f"successes capped at {items}; all rows are still written",
        )
    return Returns(items, 0)


def short_returns_fail(limits: Limits) -> bool:
    """Short returns count as failures only when ``error_threshold`` >= 0."""
    return limits.error_threshold >= 0


@dataclasses.dataclass(frozen=True)
class Limits:
    """The thresholds and timeouts of one parallel step, resolved."""

    mini_batch_error_threshold: int = -1
    error_threshold: int = -1
    allowed_failed_percent: float = 100.0
    progress_update_timeout: float = 3 * (60.0 + 600.0)
    first_task_creation_timeout: float = 600.0
    timeout: float = 60.0
    task_overhead_timeout: float = 600.0


def limits_for(task: ParallelTask) -> Limits:
    """Limits of a ``ParallelTask`` (flags override YAML keys where Azure does)."""
    flags = task.flags
    error_threshold = task.error_threshold if flags.error_threshold is None else flags.error_threshold
    progress_timeout = flags.progress_update_timeout
    if progress_timeout is None:
        progress_timeout = 3 * (task.timeout + flags.task_overhead_timeout)
    return Limits(
        mini_batch_error_threshold=task.mini_batch_error_threshold,
        error_threshold=error_threshold,
        allowed_failed_percent=flags.allowed_failed_percent,
        progress_update_timeout=progress_timeout,
        first_task_creation_timeout=flags.first_task_creation_timeout,
        timeout=task.timeout,
        task_overhead_timeout=flags.task_overhead_timeout,
    )


def exceeds(count: float, threshold: float) -> bool:
    """Azure thresholds: the job fails when the count is *greater than* the
    threshold; -1 (or any negative) ignores the rule."""
    return threshold >= 0 and count > threshold


@dataclasses.dataclass(frozen=True)
class Verdict:
    state: str  # Running | Succeeded | Failed
    rule: str | None = None  # which rule tripped (Failed only)
    message: str = ""

    @property
    def final(self) -> bool:
        return self.state != RUNNING


def verdict(
    progress: Progress, limits: Limits, *, now: float, started_at: float, attempts_at_start: int = 0
) -> Verdict:
    """The job verdict over coordinator counters (``coord.base.Progress``),
    checked continuously: fail fast when any rule trips, succeed once every
    mini-batch is final. ``started_at``/``attempts_at_start`` describe this
    run (a resumed run carries older counters)."""
    p = progress
    if exceeds(p.failed, limits.mini_batch_error_threshold):
        return Verdict(
            FAILED,
            MINI_BATCH_ERROR_THRESHOLD,
            f"{p.failed} mini-batch(es) failed, more than mini_batch_error_threshold "
            f"= {limits.mini_batch_error_threshold}{RETRY_HINT}",
        )
    if exceeds(p.items_failed, limits.error_threshold):
        return Verdict(
            FAILED,
            ERROR_THRESHOLD,
            f"{p.items_failed} item(s) failed, more than error_threshold = {limits.error_threshold}{RETRY_HINT}",
        )
    all_scheduled = p.pending == 0
    if all_scheduled and p.total > 0 and exceeds(100.0 * p.failed / p.total, limits.allowed_failed_percent):
        return Verdict(
            FAILED,
            ALLOWED_FAILED_PERCENT,
            f"{p.failed} of {p.total} mini-batches failed ({100.0 * p.failed / p.total:.1f}%), more than "
            f"--allowed_failed_percent = {limits.allowed_failed_percent:g}{RETRY_HINT}",
        )
    if p.pending == 0 and p.leased == 0:
        return Verdict(SUCCEEDED, None, f"{p.done + p.failed} of {p.total} mini-batches processed")
    if p.attempts <= attempts_at_start and now - started_at > limits.first_task_creation_timeout:
        return Verdict(
            FAILED,
            FIRST_TASK_CREATION_TIMEOUT,
            f"no mini-batch started within --first_task_creation_timeout = "
            f"{limits.first_task_creation_timeout:g}s of the job start",
        )
    last = max(p.last_progress, started_at)
    if now - last > limits.progress_update_timeout:
        return Verdict(
            FAILED,
            PROGRESS_UPDATE_TIMEOUT,
            f"no mini-batch finished for {now - last:.0f}s, more than --progress_update_timeout = "
            f"{limits.progress_update_timeout:g}s",
        )
    return Verdict(RUNNING)


def final_output_verdict(
    v: Verdict,
    items_succeeded: int,
    append_row: bool,
    planned: int | None = None,
    source: str = "",
    failures: bool = True,
) -> Verdict:
    """append_row with zero succeeded items fails the job (docs/writing-jobs.md, "The output file");
    an input with nothing in it says so instead of pointing at failures."""
    if v.state == SUCCEEDED and append_row and items_succeeded == 0:
        if planned == 0:
            return Verdict(
                FAILED,
                NO_SUCCESSES,
                f"the input {source or ''} has no items: 0 mini-batches were planned, so there is nothing "
                "to write; put data there or fix the input's path",
            )
        if not failures:  # error_threshold -1: short returns were not counted as failures
            return Verdict(
                FAILED,
                NO_SUCCESSES,
                "append_row_to is set but run() returned no result for any item, so there is nothing "
                "to write (with error_threshold -1 that is not counted as failures): return one result "
                "per item, or is a return statement missing?",
            )
        return Verdict(
            FAILED,
            NO_SUCCESSES,
            "append_row_to is set but no item succeeded: there is nothing to write; see the failed mini-batches below",
        )
    return v


def init_failures_exhausted(consecutive_failures: int, concurrency: int) -> bool:
    """docs/writing-jobs.md, "When does a job fail?": after 3 x concurrency consecutive init() failures on
    one instance the job fails."""
    return consecutive_failures >= INIT_FAILURES_PER_WORKER * max(1, concurrency)


def phase_deadline(phase: str, phase_started: float, limits: Limits) -> float:
    """When the agent kills a worker: ``load`` phase (materialising the
    mini-batch) gets --task_overhead_timeout, ``run`` gets retry_settings.timeout."""
    return phase_started + (limits.task_overhead_timeout if phase == "load" else limits.timeout)


def queue_depth(mean_seconds: float, horizon_s: float = 0.05, cap: int = 256) -> int:
    """Mini-batches queued at one worker: about ``horizon_s`` of work, so
    tiny mini-batches never wait for the agent's round trip and the agent
    reads many result lines per wake-up (``agent_machine.nap``), while long
    ones are not held back behind a busy worker (at most ``horizon_s`` of
    tail imbalance; the last of the work is shared evenly:
    ``agent_machine.dispatch``). The cap only binds below ~200 µs per
    mini-batch, where a deeper queue means fewer, larger writes to the
    worker. Unknown duration (0) -> 2."""
    if mean_seconds <= 0:
        return 2
    return max(1, min(cap, int(horizon_s / mean_seconds)))


def claim_size(held: int, workers: int, rate_per_s: float, horizon_s: float = 0.5, cap: int = 512) -> int:
    """How many mini-batches an agent claims now: enough to keep every worker
    busy for ``horizon_s`` at the observed rate (at least 2 per worker), minus
    what it already holds. Small claims keep the tail balanced across agents;
    big ones keep coordinator writes rare when mini-batches are tiny."""
    want = max(2 * workers, min(cap, int(rate_per_s * horizon_s)))
    return max(0, want - held)
