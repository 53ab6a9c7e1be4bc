"""Run ONE parallel step on this machine: plan (manifest persisted in the
step's work folder and reused on resume), open the SQLite queue, start
``instance_count`` agent processes (``pjob.local.launch``), watch the counters
and apply the verdict continuously (fail fast), stop the agents, finalise.

Called by the lead's pipeline runner (``pjob.local.pipeline_run``) for every
parallel step, and by tests/benchmarks directly. ``replay`` runs one
mini-batch in the foreground of the calling process (``pjob replay``).
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import subprocess
import time
import uuid

from pjob.coord import base
from pjob.coord.sqlite import SqliteCoordinator
from pjob.engine import agent as engine_agent
from pjob.engine import capacity, diskfull, fileio, logtree, plan_board, policy, report, results, step, step_verdict
from pjob.engine import finalise as finalising
from pjob.local import launch
from pjob.local.replay_one import ReplayResult, replay  # noqa: F401  (public API of this module)
from pjob.spec import errors

POLL_SECONDS = 0.1  # counters and agents are looked at this often, and at once when an agent exits
IDLE_EXIT_SECONDS = 0.5  # every agent saw the queue drained: the counters must show it within this
PROGRESS_SECONDS = 0.1  # the progress callback runs at most this often
OVERVIEW_SECONDS = 5.0
AGENT_STOP_SECONDS = 20.0
MAX_AGENT_RESTARTS = 3


@dataclasses.dataclass
class StepResult:
    status: str  # Succeeded | Failed
    reason: str | None  # the rule that tripped (policy.* constants), None on success
    message: str
    counters: base.Progress
    job_result: str  # path of job_result.txt
    output: str | None  # append_row_to when written
    logs_dir: str
    elapsed: float

    @property
    def succeeded(self) -> bool:
        return self.status == policy.SUCCEEDED


def effective_task(task, max_workers: int | None):
    """The task as run here: ``--max-workers`` caps the worker processes per instance."""
    task = dataclasses.replace(task, flags=dataclasses.replace(task.flags))
    if max_workers and max_workers > 0:
        task = dataclasses.replace(
            task, max_concurrency_per_instance=min(task.max_concurrency_per_instance, max_workers)
        )
    return task


def _prepare_queue(task, plan: step.Plan, retry_failed: bool, log) -> SqliteCoordinator:
    """The plan goes into the step's SQLite queue (once: a resumed run keeps
    the queue it had); leases of a dead run go back, ``--retry-failed`` resets failures."""
    db = os.path.join(task.work_dir, launch.QUEUE_FILE)
    coord = SqliteCoordinator(
        db,
        plan.count,
        max_attempts=1 + max(0, task.max_retries),
        lease_seconds=launch.LEASE_SECONDS,
        items=plan.item_counts(task) if not os.path.exists(db) else None,
    )
    # we hold the step lock, so every lease left in the queue belongs to a dead run
    stale = coord.records(state="leased")
    for rec in stale:
        coord.release(base.Lease(rec.index, rec.attempts, rec.owner or "", 0.0))
    if stale:
        log(f"resume: {len(stale)} mini-batch(es) interrupted by the previous run go back to the queue")
    if retry_failed:
        failed = coord.records(state="failed")
        # short returns left rows; the re-run commits them again
        results.drop(results.parts_dir(task.work_dir), {rec.index for rec in failed})
        n = coord.reset_failed()
        log(f"--retry-failed: {n} failed mini-batch(es) go back to the queue")
    shutil.rmtree(os.path.join(task.work_dir, "fatal"), ignore_errors=True)
    return coord


def _start_agent(task, node: int, run_id: str, logs: logtree.LogTree) -> launch.AgentProcess:
    folder = os.path.join(logs.root, "sys", "node", str(node))
    os.makedirs(folder, exist_ok=True)
    return launch.start(task, node, f"{run_id}-node{node}", os.path.join(folder, "agent.txt"))


def _start_agents(task, run_id: str, logs: logtree.LogTree, log, nodes: range) -> dict[int, launch.AgentProcess]:
    agents = {node: _start_agent(task, node, run_id, logs) for node in nodes}
    if agents:
        log(f"run {run_id}: started {len(agents)} agent(s): pids {[a.pid for a in agents.values()]}")
    return agents


def _stop_agents(agents: dict[int, launch.AgentProcess], log) -> None:
    for proc in agents.values():
        proc.close_control()
    deadline = time.monotonic() + AGENT_STOP_SECONDS
    for node, proc in agents.items():
        if proc.poll() is not None:
            continue
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"agent {node} did not stop in {AGENT_STOP_SECONDS:g}s; killed")
            proc.kill()
            proc.wait()


def _overview_line(p: base.Progress, first: base.Progress, started: float, now: float) -> str:
    """One line of job_progress_overview; the rate and ETA count only this
    run's work (``first``: the counters when it started), not a resumed run's past."""
    processed = p.done + p.failed
    rate = max(0, processed - first.done - first.failed) / max(1e-3, now - started)
    left = p.total - processed
    eta = f"{left / rate:.0f}s" if rate > 0 and left else "-"
    return (
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} scheduled {p.total - p.pending}/{p.total}, processed "
        f"{processed} (succeeded {p.done}, failed {p.failed}), items {p.items_succeeded} succeeded / "
        f"{p.items_failed} failed, {rate:.1f} mini-batches/s, ETA {eta}\n"
    )


def _agents(task, agents, run_id, logs, log, restarts: int) -> tuple[step_verdict.Agents, int]:
    """Poll the agents: restart one that crashed (up to ``MAX_AGENT_RESTARTS``
    in all); one that stopped on purpose (exit 3, or 4: no space) left its fatal error."""
    for node, proc in list(agents.items()):
        code = proc.poll()
        if code is None or code == 0:
            continue
        if code == diskfull.EXIT_NO_SPACE:
            return step_verdict.Agents(
                fatal=report.read_fatal(task.work_dir) or diskfull.message(OSError(), task.work_dir)
            ), restarts
        if code == engine_agent.EXIT_FATAL:
            fatal = report.read_fatal(task.work_dir) or step_verdict.MSG_AGENT_FATAL.format(node=node)
            return step_verdict.Agents(fatal=fatal), restarts
        if restarts >= MAX_AGENT_RESTARTS:
            why = step_verdict.MSG_AGENT_RESTARTS.format(node=node, code=code, times=restarts + 1)
            return step_verdict.Agents(crashed=why), restarts
        restarts += 1
        log(f"agent {node} exited with code {code}; restarting it (restart {restarts})")
        agents[node] = _start_agent(task, node, run_id, logs)
    return step_verdict.Agents(all_exited=all(proc.poll() == 0 for proc in agents.values())), restarts


def _watch(
    task, coord, agents, run_id, logs, log, progress, started: float, scanner: results.Scanner
) -> tuple[policy.Verdict, str | None]:
    """Poll counters and agents until the step's verdict (``engine.step_verdict``);
    between looks, read the results committed meanwhile (the merge's scan, done as they come)."""
    limits = policy.limits_for(task)
    first = coord.counters()
    attempts_at_start = first.attempts
    restarts = 0
    idle_since: float | None = None
    last_progress_call = 0.0
    last_overview = 0.0
    while True:
        now = time.time()
        p = coord.counters()
        seen = step_verdict.Agents()
        v = step_verdict.step_verdict(p, limits, seen, now=now, started_at=started, attempts_at_start=attempts_at_start)
        if not v.final:  # the counters say nothing yet: what did the agents do?
            seen, restarts = _agents(task, agents, run_id, logs, log, restarts)
            # every agent saw the queue drained: the counters must show it within IDLE_EXIT_SECONDS
            idle_since = (idle_since or now) if seen.all_exited else None
            seen = dataclasses.replace(seen, all_exited=idle_since is not None and now - idle_since > IDLE_EXIT_SECONDS)
            v = step_verdict.step_verdict(
                p, limits, seen, now=now, started_at=started, attempts_at_start=attempts_at_start
            )
        if progress is not None and (now - last_progress_call >= PROGRESS_SECONDS or v.final):
            progress(p)
            last_progress_call = now
        if now - last_overview >= OVERVIEW_SECONDS or v.final:
            try:
                with open(logs.progress_overview(now), "a", encoding="utf-8") as f:
                    f.write(_overview_line(p, first, started, now))
            except OSError:  # a full disk: a progress line is not worth stopping for
                pass
            last_overview = now
        if v.final:
            return v, seen.fatal
        scanner.advance()
        launch.sleep_until_one_exits(agents.values(), POLL_SECONDS)


def _no_space(task, coord, logs: logtree.LogTree, exc: BaseException, started: float) -> StepResult:
    """The disk filled up under the driver (a log, the queue, the merge): the
    step failed saying where; job_result.txt is written if it still fits.
    Nothing was counted as failed, so the same command resumes."""
    message = diskfull.message(exc, task.work_dir)
    try:
        counters = coord.counters() if coord is not None else base.Progress()
    except Exception:  # the queue itself may be what cannot be written
        counters = base.Progress()
    text = logtree.render_job_result(
        verdict_state=policy.FAILED,
        rule=policy.SYSTEM_ERROR,
        message=message,
        step=task.step,
        counters=counters,
        elapsed=time.time() - started,
        output=None,
        first_error=None,
        first_error_index=None,
        next_file=None,
    )
    try:
        fileio.write_text_atomic(logs.job_result, text)
    except OSError:
        pass
    return StepResult(
        status=policy.FAILED,
        reason=policy.SYSTEM_ERROR,
        message=message,
        counters=counters,
        job_result=logs.job_result,
        output=None,
        logs_dir=logs.root,
        elapsed=time.time() - started,
    )


def run_parallel_step(
    task, *, fresh: bool = False, retry_failed: bool = False, max_workers: int | None = None, progress=None
) -> StepResult:
    """Run (or resume) one parallel step; ``progress(counters)`` is called
    about every 0.1 s (and once at the end) with ``coord.base.Progress``."""
    started = time.time()
    task = effective_task(task, max_workers)
    if fresh:
        step.wipe(task)
    step.make_folders(task)
    lock = open(os.path.join(task.work_dir, "driver.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise errors.UserError(
            f"step '{task.step}' is already running in {task.work_dir} (another pjob run?); "
            "wait for it to finish or stop it"
        ) from None
    finalising.remove_staged(task)  # a kill during the last finalisation: never read as output
    logs = logtree.LogTree(task.logs_dir)
    step.prepare_folders(task, driver=True)  # task.json for the agents, the log tree
    log = step.MasterLog(task)
    coord = None
    agents: dict[int, launch.AgentProcess] = {}
    board = launch.ReadyFile(task.work_dir)
    try:
        log(
            f"step '{task.step}' of job '{task.job}': {task.instance_count} instance(s) x "
            f"{task.max_concurrency_per_instance} worker(s), max_retries={task.max_retries}, timeout={task.timeout:g}s"
        )
        plan_board.withdraw(board)  # agents of this run wait until the queue is prepared again
        run_id = uuid.uuid4().hex[:8]
        # agents (and their workers' init()) start while we plan; they wait for the plan (the ready file).
        # Started before the queue is opened here, so a forked agent never inherits an open connection.
        # At most one agent per CPU before the plan is known, and never more than there are mini-batches:
        # instance_count: 1000 over 10 mini-batches would start 1000 agents, each with its workers.
        agents = _start_agents(
            task, run_id, logs, log, range(capacity.early_workers(task.instance_count, capacity.cpus()))
        )
        plan = step.plan_once(task, log)
        count = plan.count
        agents.update(
            _start_agents(
                task, run_id, logs, log, range(len(agents), capacity.workers_to_start(task.instance_count, count, 1))
            )
        )

        def prepare_queue(plan: step.Plan) -> SqliteCoordinator:
            nonlocal coord  # closed below even when publishing fails
            coord = _prepare_queue(task, plan, retry_failed, log)
            return coord

        coord = plan_board.publish(board, plan, prepare_queue)
        for proc in agents.values():
            proc.notify()  # they look at the board now, not at their next poll
        p = coord.counters()
        if p.pending == 0 and p.leased == 0:
            log("nothing left to run: every mini-batch is already final")
        scanner = results.Scanner(results.parts_dir(task.work_dir))
        verdict, fatal = _watch(task, coord, agents, run_id, logs, log, progress, started, scanner)
        _stop_agents(agents, log)
        log(f"verdict: {verdict.state} {verdict.rule or ''} {verdict.message}")
        verdict, counters = finalising.finalise(
            task, coord, logs, verdict, count=count, elapsed=time.time() - started, fatal=fatal, scanner=scanner
        )
        log(f"finalised: {verdict.state}; {logs.job_result}")
        return StepResult(
            status=verdict.state,
            reason=verdict.rule,
            message=verdict.message,
            counters=counters,
            job_result=logs.job_result,
            output=task.append_row_to,
            logs_dir=logs.root,
            elapsed=time.time() - started,
        )
    except Exception as exc:
        if not diskfull.is_disk_full(exc):
            raise
        _stop_agents(agents, log)
        return _no_space(task, coord, logs, exc, started)
    finally:
        _stop_agents(agents, log)  # no-op when already stopped; planning errors land here
        if coord is not None:
            coord.close()
        lock.close()
