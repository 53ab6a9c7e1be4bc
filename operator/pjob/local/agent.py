"""Local agent process: ``python -m pjob.local.agent --task <work_dir>/task.json
--node <i> --agent-id <id>``. Opens the step's SQLite queue and runs
``pjob.engine.agent.Agent`` over it; stdin is the control pipe from the
driver (``pjob.local.parallel``): EOF means stop (the driver finished, failed
fast, or died).
"""

from __future__ import annotations

import argparse
import os
import sys

from pjob.coord import base
from pjob.coord.sqlite import SqliteCoordinator
from pjob.engine import agent
from pjob.engine.task import ParallelTask

QUEUE_FILE = "queue.db"
LEASE_SECONDS = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pjob-local-agent")
    parser.add_argument("--task", required=True)
    parser.add_argument("--node", type=int, required=True)
    parser.add_argument("--agent-id", required=True)
    args = parser.parse_args(argv)
    with open(args.task, encoding="utf-8") as f:
        task = ParallelTask.from_json(f.read())
    coordinator = SqliteCoordinator(
        os.path.join(task.work_dir, QUEUE_FILE), None, max_attempts=1 + max(0, task.max_retries),
        lease_seconds=LEASE_SECONDS,
    )
    try:
        return agent.Agent(task, args.node, coordinator, base.Outcome, args.agent_id, control_fd=0).run()
    finally:
        coordinator.close()


if __name__ == "__main__":
    sys.exit(main())
