"""`pjob agent` pieces that need no cluster: folders, planning once (a
restarted node 0 reuses the manifest), reading the task from a file, and a
command step run the way its pod runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from folder_task import folder_task
from pjob.engine import step
from pjob.engine.task import ParallelTask
from pjob.kube import agent_cmd, builders
from pjob.spec import resolve


def make_task(tmp_path, **kw) -> ParallelTask:
    run = tmp_path / "run" / "steps" / "s"
    files = {f"d{i}.txt": "a b c\n" * i for i in range(5)}
    fields = {"mini_batch_size": "2", "append_row_to": str(run / "outputs" / "o" / "rows.txt"), **kw}
    return folder_task(tmp_path, files, **fields)


def test_node_0_prepares_folders_and_plans_once(tmp_path):
    """The step lifecycle a pod runs is the engine's (``pjob.engine.step``), the same as ``pjob run``'s."""
    task = make_task(tmp_path)
    step.prepare_folders(task, driver=True)
    assert ParallelTask.from_json(open(os.path.join(task.work_dir, "task.json")).read()) == task
    assert os.path.isfile(os.path.join(task.logs_dir, "readme.txt"))
    lines = []
    plan = step.plan_once(task, lines.append)
    assert (plan.count, plan.item_counts(task)) == (3, [2, 2, 1]) and len(lines) == 1
    (tmp_path / "docs" / "d9.txt").write_text("late\n")  # a restarted node 0 must not re-plan
    again = step.plan_once(task, lines.append)
    assert (again.count, again.items, again.item_counts(task)) == (3, None, [2, 2, 1])
    assert len(lines) == 2 and lines[1].startswith("reusing the plan in ")  # said, as pjob run says it


def test_other_nodes_do_not_write_the_driver_logs(tmp_path):
    task = make_task(tmp_path)
    step.prepare_folders(task, driver=False)
    assert os.path.isfile(os.path.join(task.work_dir, "task.json"))
    assert not os.path.exists(os.path.join(task.logs_dir, "readme.txt"))


def test_task_from_a_file(tmp_path):
    task = make_task(tmp_path)
    path = tmp_path / "task.json"
    path.write_text(task.to_json())
    assert agent_cmd.read_task(None, "ns", str(path)) == task


def test_command_step_pod_writes_logs_outputs_and_exit_code(tmp_path):
    out = tmp_path / "run" / "steps" / "prep" / "outputs" / "data"
    resolved = resolve.ResolvedStep(
        "prep",
        "command",
        {},
        {"data": resolve.DataValue("uri_folder", str(out))},
        {},
        command=f"echo hello; echo oops >&2; echo 1 > {out}/x.txt; exit 4",
        code_dir=str(tmp_path),
    )
    payload = json.dumps(builders.command_step_payload(resolved, str(tmp_path / "run" / "steps" / "prep"), None))
    proc = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "agent", "--command-step", payload],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 4
    assert proc.stdout == "hello\n" and proc.stderr == "oops\n"  # the container log
    logs = tmp_path / "run" / "steps" / "prep" / "logs"
    assert (logs / "stdout.txt").read_text() == "hello\n" and (logs / "stderr.txt").read_text() == "oops\n"
    assert (out / "x.txt").read_text() == "1\n"
    result = (logs / "job_result.txt").read_text()
    assert result.startswith("Status: Failed") and "command exited with code 4" in result and "oops" in result
