"""``pjob finalise``: what the finaliser Job's pod runs (``pjob.kube.finaliser_job``).

``pjob finalise --coordinator kube://<ns>/<job> --task configmap:<name> --verdict JSON
--result configmap:<name> --owner JSON`` finalises the job on the datastore with the
verdict the operator decided (``pjob.kube.finalise_pod``: the engine's own
finalisation, the same ``pjob run`` uses, or the never-planned case) and
creates the result ConfigMap (``result.json``: the final verdict and
counters), last. Re-runnable: a result already written ends the command at
once; otherwise staging files a
killed run left are removed and every end-of-step file is written again,
whole (the merge re-reads the committed parts in mini-batch order, so a
second run neither doubles nor loses output).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

log = logging.getLogger("pjob.finalise")
USER_AGENT = "pjob-agent/finalise"  # its calls are the workers' (pjob.kube.rbac.WORKER)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--coordinator", required=True, metavar="kube://NS/JOB", help="the job's queue")
    parser.add_argument("--task", required=True, metavar="configmap:NAME|PATH", help="the resolved task")
    parser.add_argument("--verdict", required=True, metavar="JSON", help="the operator's verdict and the start time")
    parser.add_argument("--result", required=True, metavar="configmap:NAME", help="where to write the outcome")
    parser.add_argument("--owner", required=True, metavar="JSON", help="ownerReference of the result (the CR)")


def main(args: argparse.Namespace) -> int:
    from pjob.coord import kube as coord_kube
    from pjob.engine import finalise
    from pjob.kube import agent_cmd, finalise_pod, finaliser_job, kubeio

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    namespace, job = coord_kube.parse_uri(args.coordinator)
    client = kubeio.load_client(USER_AGENT)
    api = kubeio.KubeApi(client)
    result_name = args.result.removeprefix("configmap:")
    if api.get("ConfigMap", namespace, result_name) is not None:
        log.info("already finalised (ConfigMap %s exists)", result_name)
        return 0
    verdict, started = finaliser_job.decode_verdict(args.verdict)
    task = agent_cmd.read_task(client, namespace, args.task)
    removed = finalise.remove_staged(task)  # what a killed finaliser left half-written
    if removed:
        log.info("removed %d staging file(s) of an earlier finaliser", len(removed))
    coordinator = coord_kube.KubeCoordinator(
        client,
        namespace,
        job,
        max_attempts=1 + max(0, task.max_retries),
        lease_seconds=float(os.environ.get("PJOB_LEASE_SECONDS") or 30.0),
    )
    try:
        if coordinator.plan_size() is None:  # never planned: nothing to merge, say why
            final, counters = finalise_pod.finalise_unplanned(task, verdict, started=started)
        else:
            final, counters = finalise_pod.finalise(task, coordinator, verdict, started=started)
    finally:
        coordinator.close()
    # the last step: the operator marks the job terminal once it reads this (a 409: written already)
    text = finaliser_job.encode_result(final, counters)
    api.create(finaliser_job.build_result_configmap(json.loads(args.owner), namespace, job, text))
    log.info("finalised %s/%s: %s %s", namespace, job, final.state, final.message)
    return 0
