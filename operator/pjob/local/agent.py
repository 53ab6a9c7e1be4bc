"""Local agent process: ``python -m pjob.local.agent --task <work_dir>/task.json
--node <i> --agent-id <id>``. Opens the step's SQLite queue and runs
``pjob.engine.agent.Agent`` over it; stdin is the control pipe from the
driver (``pjob.local.parallel``): EOF means stop (the driver finished, failed
fast, or died).
"""

from __future__ import annotations

import argparse
import os
import select
import sys

from pjob.coord import base
from pjob.coord.sqlite import SqliteCoordinator
from pjob.engine import agent
from pjob.engine.task import ParallelTask

QUEUE_FILE = "queue.db"
READY_FILE = "queue.ready"  # written by the driver once the queue is prepared for this run
LEASE_SECONDS = 30.0


def connect_when_ready(task):
    """Wait for the driver to finish planning/preparing the queue (its ready
    file), then open the queue; None when the driver goes away meanwhile."""
    ready = os.path.join(task.work_dir, READY_FILE)
    while not os.path.exists(ready):
        readable, _, _ = select.select([0], [], [], 0.01)
        if readable and not os.read(0, 4096):
            return None
    return SqliteCoordinator(
        os.path.join(task.work_dir, QUEUE_FILE), None, max_attempts=1 + max(0, task.max_retries),
        lease_seconds=LEASE_SECONDS,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pjob-local-agent")
    parser.add_argument("--task", required=True)
    parser.add_argument("--node", type=int, required=True)
    parser.add_argument("--agent-id", required=True)
    args = parser.parse_args(argv)
    with open(args.task, encoding="utf-8") as f:
        task = ParallelTask.from_json(f.read())
    runner = agent.Agent(task, args.node, lambda: connect_when_ready(task), base.Outcome, args.agent_id, control_fd=0)
    try:
        return runner.run()
    finally:
        if hasattr(runner.coord, "close"):
            runner.coord.close()


if __name__ == "__main__":
    sys.exit(main())
