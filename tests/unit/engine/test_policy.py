"""Table-driven tests of the pure failure rules in pjob.engine.policy."""

from __future__ import annotations

import pytest
from pjob.coord.base import Progress
from pjob.engine import policy
from pjob.engine.task import ParallelTask, RuntimeFlags

L = policy.Limits


@pytest.mark.parametrize(
    "items,returned,succeeded,failed,error,warning",
    [
        (10, 10, 10, 0, False, False),
        (10, 7, 7, 3, True, False),  # short: failed items, mini-batch failed, not retried
        (10, 0, 0, 10, True, False),
        (10, 12, 10, 0, False, True),  # more: capped + warning
        (-1, 5, 5, 0, False, False),  # unknown item count (estimated byte range)
        (0, 0, 0, 0, False, False),
    ],
)
def test_count_returns(items, returned, succeeded, failed, error, warning):
    r = policy.count_returns(items, returned)
    assert (r.succeeded, r.failed, r.error is not None, r.warning is not None) == (succeeded, failed, error, warning)


@pytest.mark.parametrize(
    "items,returned,succeeded,note",
    [(10, 7, 7, True), (10, 0, 0, True), (10, 10, 10, False), (10, 12, 10, False), (-1, 0, 0, False)],
)
def test_short_returns_are_not_failures_under_error_threshold_minus_one(items, returned, succeeded, note):
    r = policy.count_returns(items, returned, short_returns_fail=False)
    assert (r.succeeded, r.failed, r.error, r.note is not None) == (succeeded, 0, None, note)


@pytest.mark.parametrize(
    "yaml_threshold,flag,fail", [(-1, None, False), (0, None, True), (5, None, True), (5, -1, False), (-1, 3, True)]
)
def test_short_returns_fail_only_with_an_error_threshold(yaml_threshold, flag, fail):
    task = ParallelTask(
        step="s",
        job="j",
        code_dir="/c",
        entry_script="e.py",
        argv=[],
        env={},
        input_type="uri_folder",
        input_uri="/d",
        mini_batch_size="1",
        partition_keys=None,
        output_dir="/o",
        append_row_to=None,
        logs_dir="/l",
        work_dir="/w",
        error_threshold=yaml_threshold,
        flags=RuntimeFlags(error_threshold=flag),
    )
    assert policy.short_returns_fail(policy.limits_for(task)) is fail


@pytest.mark.parametrize(
    "count,threshold,exceeded",
    [(0, 0, False), (1, 0, True), (5, 5, False), (6, 5, True), (1000, -1, False), (3, -5, False)],
)
def test_exceeds_is_greater_than_and_negative_ignores(count, threshold, exceeded):
    assert policy.exceeds(count, threshold) is exceeded


def P(**kw) -> Progress:
    base = dict(
        total=10,
        pending=5,
        leased=2,
        done=3,
        failed=0,
        items_succeeded=30,
        items_failed=0,
        attempts=5,
        last_progress=100.0,
    )
    base.update(kw)
    return Progress(**base)


@pytest.mark.parametrize(
    "progress,limits,now,state,rule",
    [
        (P(), L(), 101.0, "Running", None),
        (P(failed=1), L(mini_batch_error_threshold=0), 101.0, "Failed", policy.MINI_BATCH_ERROR_THRESHOLD),
        (P(failed=1), L(mini_batch_error_threshold=1), 101.0, "Running", None),
        (P(failed=1), L(mini_batch_error_threshold=-1), 101.0, "Running", None),
        (P(items_failed=4), L(error_threshold=3), 101.0, "Failed", policy.ERROR_THRESHOLD),
        (P(items_failed=3), L(error_threshold=3), 101.0, "Running", None),
        # allowed_failed_percent only once everything is scheduled (pending == 0)
        (P(failed=5, pending=3), L(allowed_failed_percent=10), 101.0, "Running", None),
        (
            P(failed=2, pending=0, leased=1),
            L(allowed_failed_percent=10),
            101.0,
            "Failed",
            policy.ALLOWED_FAILED_PERCENT,
        ),
        (P(failed=1, pending=0, leased=1), L(allowed_failed_percent=10), 101.0, "Running", None),
        (P(pending=0, leased=0, done=9, failed=1), L(allowed_failed_percent=10), 101.0, "Succeeded", None),
        (P(pending=0, leased=0, done=10), L(), 101.0, "Succeeded", None),
        (P(pending=0, leased=0, done=8, failed=2), L(), 101.0, "Succeeded", None),
        (P(last_progress=100.0), L(progress_update_timeout=5), 106.0, "Failed", policy.PROGRESS_UPDATE_TIMEOUT),
        (P(last_progress=100.0), L(progress_update_timeout=5), 104.0, "Running", None),
        (
            P(attempts=0, last_progress=0),
            L(first_task_creation_timeout=3, progress_update_timeout=99),
            104.0,
            "Failed",
            policy.FIRST_TASK_CREATION_TIMEOUT,
        ),
        (
            P(attempts=0, last_progress=0),
            L(first_task_creation_timeout=3, progress_update_timeout=99),
            102.0,
            "Running",
            None,
        ),
    ],
)
def test_verdict(progress, limits, now, state, rule):
    v = policy.verdict(progress, limits, now=now, started_at=100.0)
    assert (v.state, v.rule) == (state, rule)
    assert v.final is (state != "Running")


def test_verdict_resumed_run_counts_its_own_start():
    old = P(attempts=7, last_progress=10.0)  # counters of an earlier run
    limits = L(first_task_creation_timeout=3, progress_update_timeout=5)
    assert policy.verdict(old, limits, now=102.0, started_at=100.0, attempts_at_start=7).state == "Running"
    v = policy.verdict(old, limits, now=104.0, started_at=100.0, attempts_at_start=7)
    assert v.rule == policy.FIRST_TASK_CREATION_TIMEOUT


@pytest.mark.parametrize(
    "state,succeeded,append_row,final_state",
    [
        ("Succeeded", 0, True, "Failed"),
        ("Succeeded", 0, False, "Succeeded"),
        ("Succeeded", 1, True, "Succeeded"),
        ("Failed", 0, True, "Failed"),
    ],
)
def test_zero_successes_with_append_row(state, succeeded, append_row, final_state):
    v = policy.final_output_verdict(policy.Verdict(state), succeeded, append_row)
    assert v.state == final_state


@pytest.mark.parametrize(
    "failures,concurrency,exhausted", [(2, 1, False), (3, 1, True), (5, 2, False), (6, 2, True), (3, 0, True)]
)
def test_init_failure_rule(failures, concurrency, exhausted):
    assert policy.init_failures_exhausted(failures, concurrency) is exhausted


@pytest.mark.parametrize("phase,deadline", [("load", 100.0 + 7), ("run", 100.0 + 2)])
def test_phase_deadline(phase, deadline):
    assert policy.phase_deadline(phase, 100.0, L(timeout=2, task_overhead_timeout=7)) == deadline


@pytest.mark.parametrize(
    "mean,depth", [(0.0, 2), (0.0002, 250), (0.00001, 256), (0.005, 10), (0.02, 2), (0.05, 1), (5.0, 1)]
)
def test_queue_depth(mean, depth):
    assert policy.queue_depth(mean) == depth


@pytest.mark.parametrize(
    "held,workers,rate,want",
    [(0, 2, 0.0, 4), (4, 2, 0.0, 0), (0, 2, 1000.0, 500), (100, 2, 1000.0, 400), (0, 2, 1e9, 512)],
)
def test_claim_size(held, workers, rate, want):
    assert policy.claim_size(held, workers, rate) == want


def _task(**kw):
    fields = dict(
        step="s",
        job="j",
        code_dir="/c",
        entry_script="s.py",
        argv=[],
        env={},
        input_type="uri_folder",
        input_uri="/d",
        mini_batch_size=None,
        partition_keys=None,
        output_dir="/o",
        append_row_to=None,
        logs_dir="/l",
        work_dir="/w",
    )
    fields.update(kw)
    return ParallelTask(**fields)


@pytest.mark.parametrize(
    "task_kw,expected",
    [
        ({}, dict(error_threshold=-1, progress_update_timeout=3 * (60 + 600))),
        ({"error_threshold": 4}, dict(error_threshold=4)),
        ({"error_threshold": 4, "flags": RuntimeFlags(error_threshold=9)}, dict(error_threshold=9)),
        ({"timeout": 5, "flags": RuntimeFlags(task_overhead_timeout=10)}, dict(progress_update_timeout=45)),
        ({"flags": RuntimeFlags(progress_update_timeout=12)}, dict(progress_update_timeout=12)),
    ],
)
def test_limits_for(task_kw, expected):
    limits = policy.limits_for(_task(**task_kw))
    for key, value in expected.items():
        assert getattr(limits, key) == value


def test_nothing_to_write_without_failures_says_run_returned_nothing():
    v = policy.final_output_verdict(policy.Verdict(policy.SUCCEEDED), 0, True, planned=3, failures=False)
    assert (v.state, v.rule) == (policy.FAILED, policy.NO_SUCCESSES)
    assert "returned no result for any item" in v.message and "failed mini-batches below" not in v.message
