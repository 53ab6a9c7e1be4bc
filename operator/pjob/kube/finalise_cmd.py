"""``pjob finalise``: what the finaliser Job's pod runs (``pjob.kube.finaliser_job``).

``pjob finalise --coordinator kube://<ns>/<job> --task configmap:<name> --verdict configmap:<name>``
reads the verdict the operator decided, finalises the job on the datastore
(``pjob.kube.finalise``: the engine's own finalisation, the same ``pjob
run`` uses, or the never-planned case) and writes the final verdict and
counters into the verdict ConfigMap (``result.json``), last. Re-runnable: a
result already written ends the command at once; otherwise staging files a
killed run left are removed and every end-of-step file is written again,
whole (the merge re-reads the committed parts in mini-batch order, so a
second run neither doubles nor loses output).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

log = logging.getLogger("pjob.finalise")
USER_AGENT = "pjob-agent/finalise"  # its calls are the workers' (pjob.kube.rbac.WORKER)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--coordinator", required=True, metavar="kube://NS/JOB", help="the job's queue")
    parser.add_argument("--task", required=True, metavar="configmap:NAME|PATH", help="the resolved task")
    parser.add_argument("--verdict", required=True, metavar="configmap:NAME", help="the operator's verdict")


def _configmap(client: Any, namespace: str, ref: str) -> tuple[str, dict[str, str]]:
    from pjob.kube import kubeio
    from pjob.spec import errors

    name = ref.removeprefix("configmap:")
    cm = kubeio.KubeApi(client).get("ConfigMap", namespace, name)  # type: ignore[no-untyped-call]
    if cm is None:
        raise errors.UserError(f"--verdict {ref}: no such ConfigMap in namespace {namespace}", field="--verdict")
    return name, dict(cm.get("data") or {})


def main(args: argparse.Namespace) -> int:
    from pjob.coord import kube as coord_kube
    from pjob.engine import finalise as engine_finalise
    from pjob.kube import agent_cmd, finaliser_job, kubeio
    from pjob.kube import finalise as finalising

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    namespace, job = coord_kube.parse_uri(args.coordinator)
    client = kubeio.load_client(USER_AGENT)
    cm_name, data = _configmap(client, namespace, args.verdict)
    if finaliser_job.RESULT_KEY in data:
        log.info("already finalised: %s", data[finaliser_job.RESULT_KEY])
        return 0
    verdict, started = finaliser_job.decode_verdict(data[finaliser_job.VERDICT_KEY])
    task = agent_cmd.read_task(client, namespace, args.task)
    removed = engine_finalise.remove_staged(task)  # what a killed finaliser left half-written
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
            final, counters = finalising.finalise_unplanned(task, verdict, started=started)
        else:
            final, counters = finalising.finalise(task, coordinator, verdict, started=started)
    finally:
        coordinator.close()
    write_result(client, namespace, cm_name, finaliser_job.encode_result(final, counters))
    log.info("finalised %s/%s: %s %s", namespace, job, final.state, final.message)
    return 0


def write_result(client: Any, namespace: str, name: str, text: str) -> None:
    """The last step: the operator marks the job terminal once it reads this."""
    import kubernetes

    from pjob.kube import finaliser_job

    body = {"data": {finaliser_job.RESULT_KEY: text}}
    kubernetes.client.CoreV1Api(client).patch_namespaced_config_map(name, namespace, body)
