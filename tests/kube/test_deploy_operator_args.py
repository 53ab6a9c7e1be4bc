"""The Helm chart's operator Deployment, run as written: the container args
and environment from the rendered Deployment (cluster-wide and
namespaced-only), the rendered config.json as $PJOB_CONFIG_FILE, with a token
of the chart's ServiceAccount, against the real API server. kopf's liveness endpoint must answer on the port the
Deployment's probe uses, and the operator must watch the namespaces the
chart asked for. Skipped without Helm's Go SDK (helm-python-sdk).
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "deploy"))
import chart_render


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _deployment_container(values: dict) -> tuple[dict, dict]:
    chart_render.require_helm()
    objs = chart_render.objects(chart_render.render(values, namespace="pjob-system"))
    (dep,) = chart_render.by_kind(objs, "Deployment")
    return dep["spec"]["template"]["spec"]["containers"][0], chart_render.operator_config(objs)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return 0


@pytest.mark.parametrize("watch", [[], ["team-a"]], ids=["cluster-wide", "namespaced"])
def test_operator_runs_with_the_charts_args_and_answers_its_liveness_probe(
    watch, kube_api, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    port = _free_port()
    container, config = _deployment_container({"operator": {"healthPort": port, "watchNamespaces": watch}})
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    env = {
        **kube_env,
        "KUBECONFIG": kube_env["PJOB_TEST_OPERATOR_KUBECONFIG"],
        "PJOB_DATASTORE_ROOT": str(tmp_path / "ds"),
    }
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
    env.update(
        {
            "PJOB_CONFIG_FILE": str(config_file),
            "PJOB_OPERATOR_NAMESPACE": "pjob-system",
            "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path),
        }
    )
    apply_crds()
    for ns in watch:
        kube_api.ensure_namespace(ns)

    operator = start_process([sys.executable, "-m", "pjob.cli", *container["args"]], env=env, name="operator")
    record = wait_for_request(
        lambda r: r.verb == "watch" and r.resource == "paralleljobs",
        timeout=30,
        message="the operator to watch paralleljobs",
    )
    assert record.namespace == (watch[0] if watch else None)

    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + 30
    while _get(url) != 200:
        assert operator.popen.poll() is None, operator.log()[-3000:]
        assert time.monotonic() < deadline, f"no 200 from {url}\n{operator.log()[-3000:]}"
        time.sleep(0.2)
    assert "Traceback" not in operator.log()
