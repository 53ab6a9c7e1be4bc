"""``pjob agent``: what a worker pod runs.

``pjob agent --coordinator kube://<ns>/<job> --task configmap:<name> [--node i]``
runs the engine's agent (``pjob.engine.agent.Agent``) over the job's
``pjob.coord.kube.KubeCoordinator``. Node 0 plans the input (or reuses the
manifest of an earlier attempt) and publishes the plan size in the queue; the
other nodes wait for it (the rule: ``pjob.engine.plan_board``; its board
here: ``QueuePlanBoard``). Everything the job writes goes to its folder on the
datastore (``ParallelTask.work_dir``/``logs_dir``/``output_dir``). On SIGTERM
the agent hands its current mini-batches back (no attempt burnt) and exits.
SIGTERM is handled from the first line of ``main`` on (``stop_on_sigterm``):
a pod's main process is PID 1, which the kernel never kills with a signal
it has no handler for, so without it a pod deleted while node 0 plans or
another node waits for the plan would ignore SIGTERM until SIGKILL.
A queue the API server refuses for good (``QueueRejected``: 422 past 1 MiB,
403, ...) fails the job at once (exit 3, the reason in ``job_result.txt``)
instead of crash-looping every agent.

``pjob agent --command-step JSON`` runs a pipeline's command step instead
(``pjob.kube.command_pod``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `pjob agent` starts fast
    from pjob.coord.kube import KubeCoordinator
    from pjob.engine.step import Plan
    from pjob.engine.task import ParallelTask

log = logging.getLogger("pjob.agent")
WAIT_FOR_PLAN_SECONDS = 0.5
EXIT_STOPPED = 143  # 128 + SIGTERM: stopped before the work was done; the Job replaces the pod


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--coordinator", metavar="kube://NS/JOB", help="the job's queue")
    parser.add_argument(
        "--task", metavar="configmap:NAME|PATH", help="the resolved task (ConfigMap key task.json, or a file)"
    )
    parser.add_argument("--node", type=int, help="node index (default: $JOB_COMPLETION_INDEX, else 0)")
    parser.add_argument("--agent-id", help="unique id of this agent (default: $POD_NAME)")
    parser.add_argument("--command-step", metavar="JSON", help="run a pipeline command step (inside its pod)")


def _exit_stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(EXIT_STOPPED)  # unwinds: the coordinator hands back what it reserved


def stop_on_sigterm() -> None:
    """Exit 143 on SIGTERM until the engine's agent installs its own handler."""
    signal.signal(signal.SIGTERM, _exit_stopped)


def default_workers() -> int:
    """Worker processes of this pod when the spec leaves max_concurrency_per_instance
    unset: the pod's CPU limit (its cgroup), not the node's cores."""
    from pjob.engine import cgroup

    return cgroup.default_concurrency()


def main(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    from pjob.spec import errors

    if args.command_step:
        from pjob.kube import command_pod

        return command_pod.run(args.command_step)
    if not args.coordinator or not args.task:
        raise errors.UserError(
            "give --coordinator kube://<namespace>/<job> and --task (or --command-step)", field="agent"
        )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_agent(args)


def read_task(client: Any, namespace: str, ref: str) -> ParallelTask:
    from pjob.engine.task import ParallelTask
    from pjob.kube import kubeio
    from pjob.spec import errors

    if ref.startswith("configmap:"):
        cm = kubeio.KubeApi(client).get("ConfigMap", namespace, ref[len("configmap:") :])
        if cm is None or "task.json" not in (cm.get("data") or {}):
            raise errors.UserError(
                f"--task {ref}: no ConfigMap with key task.json in namespace {namespace}", field="--task"
            )
        return ParallelTask.from_json(cm["data"]["task.json"])
    with open(ref, encoding="utf-8") as fh:
        return ParallelTask.from_json(fh.read())


class QueuePlanBoard:
    """The cluster's ``engine.plan_board.PlanBoard``: the plan size in the
    job's queue ConfigMap. The operator creates that ConfigMap without a plan
    for each job, so there is no earlier run's plan to withdraw."""

    def __init__(self, coordinator: KubeCoordinator):
        self.coordinator = coordinator

    def withdraw(self) -> None:
        pass

    def publish(self, plan: Plan) -> None:
        self.coordinator.load_plan(plan.count, plan.items)

    def published(self) -> bool:
        return self.coordinator.plan_size() is not None


def _sized(coordinator: KubeCoordinator, items: list[int]) -> KubeCoordinator:
    """This agent's side of the queue, prepared for the plan: each mini-batch's item count."""
    coordinator.items = items
    return coordinator


def run_agent(args: argparse.Namespace) -> int:
    from pjob.coord import kube as coord_kube
    from pjob.engine import agent as engine_agent
    from pjob.engine import report, step
    from pjob.kube import kubeio

    namespace, job = coord_kube.parse_uri(args.coordinator)
    client = kubeio.load_client("pjob-agent")
    task = read_task(client, namespace, args.task)
    node = args.node if args.node is not None else int(os.environ.get("JOB_COMPLETION_INDEX") or 0)
    if task.concurrency_from_node:
        task.max_concurrency_per_instance = default_workers()
    agent_id = args.agent_id or os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    lease_seconds = float(os.environ.get("PJOB_LEASE_SECONDS") or 30.0)
    step.prepare_folders(task, driver=node == 0)
    master_log = step.MasterLog(task, f"node {node} {agent_id}")

    try:
        return _run(task, node, agent_id, client, namespace, job, lease_seconds, master_log)
    except coord_kube.QueueRejected as exc:  # final: retrying (a new pod) would fail the same way
        master_log(str(exc))
        report.write_fatal(task.work_dir, str(node), f"{exc}\n")
        log.error("%s", exc)
        return engine_agent.EXIT_FATAL


def _run(
    task: ParallelTask,
    node: int,
    agent_id: str,
    client: Any,
    namespace: str,
    job: str,
    lease_seconds: float,
    master_log: Callable[[str], None],
) -> int:
    from pjob.coord import kube as coord_kube
    from pjob.engine import agent as engine_agent
    from pjob.engine import plan_board, report, step

    coordinator = coord_kube.KubeCoordinator(
        client,
        namespace,
        job,
        max_attempts=1 + max(0, task.max_retries),
        lease_seconds=lease_seconds,
        instances=task.instance_count,
    )
    board = QueuePlanBoard(coordinator)
    try:
        if node == 0:
            try:
                plan = step.plan_once(task, master_log)
                count, items = plan.count, plan.item_counts(task)
            except Exception as exc:
                text = step.planning_failed(task, exc)
                master_log(text)
                report.write_fatal(task.work_dir, "0", text)
                return engine_agent.EXIT_FATAL
            plan_board.publish(board, step.Plan(count, items), lambda plan: _sized(coordinator, items))
        else:  # SIGTERM meanwhile: SystemExit(143) out of the wait (stop_on_sigterm)
            plan_board.wait(board, poll_seconds=WAIT_FOR_PLAN_SECONDS)
            count, items = step.read_items(task)  # node 0 wrote the manifest before publishing
            _sized(coordinator, items)
        master_log(f"agent started: {task.max_concurrency_per_instance} worker(s), {count} mini-batches in the plan")
        code = engine_agent.Agent(task, node, coordinator, agent_id).run()
        if code == engine_agent.EXIT_OK:
            left = coordinator.counters()
            if left.pending or left.leased:
                # stopped (SIGTERM) before the queue was final: a successful exit would mark this
                # index of the Indexed Job complete and nobody would take its place
                code = EXIT_STOPPED
        master_log(f"agent stopped (exit {code})")
        return code
    finally:
        coordinator.close()
