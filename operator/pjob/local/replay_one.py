"""Replay one mini-batch of a planned step in the foreground of the calling
process, with the same data, argv, environment and EntryScript set-up a worker
gets, so a debugger can attach (``pjob replay``; re-exported as
``pjob.local.parallel_step.replay``). Exceptions from the entry script propagate
unchanged (post-mortem debugging works); nothing is recorded in the queue and
no part file is written.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import pjob.data
from pjob.engine import host, logtree, manifest, policy, results
from pjob.engine.task import ParallelTask
from pjob.spec import errors

REPLAY_NODE = "replay"


@dataclasses.dataclass
class ReplayResult:
    index: int
    items: int
    succeeded: int
    failed: int
    returned: object  # what run() returned
    rows: str  # the append_row text this mini-batch would contribute
    error: str | None  # short-return message
    warning: str | None


def replay(task: ParallelTask, index: int) -> ReplayResult:
    path = manifest.path_in(task.work_dir)
    if not os.path.exists(path):
        raise errors.UserError(f"step '{task.step}' has no plan in {task.work_dir}: run it first with `pjob run`")
    _, lines = manifest.read_header_and_lines(path)
    if not 0 <= index < len(lines):
        raise errors.UserError(
            f"mini-batch {index} does not exist: step '{task.step}' has mini-batches 0..{len(lines) - 1}",
            field="--mini-batch",
        )
    mb = manifest.descriptor(lines[index])
    logs = logtree.LogTree(task.logs_dir)
    proc = logtree.process_name(0)
    logs.make_node_dirs(REPLAY_NODE)
    wd = os.path.join(task.work_dir, "tmp", REPLAY_NODE, proc)
    os.makedirs(wd, exist_ok=True)
    saved_argv, saved_env, saved_cwd, saved_path = list(sys.argv), dict(os.environ), os.getcwd(), list(sys.path)
    try:
        os.environ.clear()
        os.environ.update(host.worker_environment(task, saved_env, 0))
        os.chdir(wd)
        sys.argv = host.script_argv(task)
        host.configure_entry_script(task, logs, REPLAY_NODE, proc, wd)
        script = host.EntryScriptHost(task)
        script.load()
        script.init()
        data = pjob.data.read_mini_batch(mb, os.path.join(task.work_dir, "scratch", REPLAY_NODE))
        items, returned = script.run_counted(data, host.context_for(mb, task))
        n, header, rows = results.format_returns(returned)
        counted = policy.count_returns(items, n)
        script.shutdown()
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
    return ReplayResult(
        index=index,
        items=items,
        succeeded=counted.succeeded,
        failed=counted.failed,
        returned=returned,
        rows=str(rows, "utf-8"),
        error=counted.error,
        warning=counted.warning,
    )
