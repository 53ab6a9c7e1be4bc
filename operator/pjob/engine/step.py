"""The lifecycle of ONE parallel step, shared by the local driver
(``pjob.local.parallel_step``) and the pods of a cluster job
(``pjob.kube.agent_cmd``): prepare the step's folders, plan its input once
(a resumed or restarted run reuses the manifest), keep the driver's story in
``logs/sys/master_role.txt``, and say why planning failed. The plan is then
published, and waited for, by one rule for both (``pjob.engine.plan_board``:
agents start on the plan of their own run, published once the manifest is
written and the queue prepared); each queue only stores it (a ready file
beside the SQLite queue; the plan size in the queue ConfigMap). What the
step's agents did is judged by ``pjob.engine.step_verdict``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable

from pjob.data import files
from pjob.engine import fileio, logtree, manifest, results
from pjob.engine.task import ParallelTask

Log = Callable[[str], None]

MSG_REUSING_PLAN = "reusing the plan in {path}: {count} mini-batches, {items} items"
MSG_PLANNING_FAILED = "planning {input} failed: {error}"


def wipe(task: ParallelTask) -> None:
    """Start over (``--fresh``): forget the plan, the queue, the logs and the merged output."""
    for folder in (task.work_dir, task.logs_dir):
        shutil.rmtree(folder, ignore_errors=True)
    if task.append_row_to and os.path.isfile(task.append_row_to):
        os.unlink(task.append_row_to)


def make_folders(task: ParallelTask) -> None:
    """The step's folders: work (and its parts), logs, outputs, the append_row_to file's folder."""
    for folder in (task.work_dir, task.logs_dir, task.output_dir, results.parts_dir(task.work_dir)):
        os.makedirs(folder, exist_ok=True)
    if task.append_row_to and "://" not in task.append_row_to:
        os.makedirs(os.path.dirname(task.append_row_to) or ".", exist_ok=True)


def prepare_folders(task: ParallelTask, *, driver: bool) -> None:
    """The folders, ``task.json`` for the agents, and (the driver: local, or
    node 0 of a cluster job) the log tree's readme and driver folders."""
    make_folders(task)
    fileio.write_text_atomic(os.path.join(task.work_dir, "task.json"), task.to_json())
    if driver:
        tree = logtree.LogTree(task.logs_dir)
        tree.write_readme()
        tree.make_driver_dirs()


class MasterLog:
    """``logs/sys/master_role.txt``: the driver's story, one timestamped line
    per call (appended, so every pod of a cluster job can add to it). A line
    that cannot be written (a full disk) is lost; the run goes on to say so."""

    def __init__(self, task: ParallelTask, prefix: str = ""):
        self.path = logtree.LogTree(task.logs_dir).master_role
        self.prefix = f"[{prefix}] " if prefix else ""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def __call__(self, text: str) -> None:
        now = time.time()
        stamp = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d}"
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(f"{stamp} {self.prefix}{text}\n")
        except OSError:
            pass


@dataclasses.dataclass(frozen=True)
class Plan:
    """The plan of a step: its mini-batch count and, when it was just made,
    each mini-batch's item count (``None`` when reused: ``read_items`` has them)."""

    count: int
    items: list[int] | None

    def item_counts(self, task: ParallelTask) -> list[int]:
        return self.items if self.items is not None else read_items(task)[1]


def plan_once(task: ParallelTask, log: Log) -> Plan:
    """Plan the input into the manifest, or reuse the manifest an earlier run
    (or a restarted node 0) wrote: a step is planned once."""
    path = manifest.path_in(task.work_dir)
    if os.path.exists(path):
        header, _ = manifest.read_header_and_lines(path)
        log(MSG_REUSING_PLAN.format(path=path, count=header["count"], items=header["items"]))
        return Plan(int(header["count"]), None)
    plan = manifest.plan_into(task, path, log)
    batches = plan.mini_batches
    if isinstance(batches, files.FileBatches):  # all full but the last: no mini-batch made
        return Plan(len(batches), batches.item_counts())
    return Plan(len(batches), [max(0, mb.items) for mb in batches])


def read_items(task: ParallelTask) -> tuple[int, list[int]]:
    """(mini-batch count, each one's item count) from the manifest."""
    header, lines = manifest.read_header_and_lines(manifest.path_in(task.work_dir))
    return int(header["count"]), [max(0, int(json.loads(line).get("items", 0))) for line in lines]


def planning_failed(task: ParallelTask, exc: BaseException) -> str:
    """What a step whose input could not be planned says (first line), with the traceback below."""
    return f"{MSG_PLANNING_FAILED.format(input=task.input_uri, error=exc)}\n\n{traceback.format_exc()}"
