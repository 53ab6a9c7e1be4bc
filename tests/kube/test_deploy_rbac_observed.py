"""RBAC derived from what the code actually calls: run real jobs (a
ParallelJob, and a PipelineJob with its child ParallelJob) through the real
operator and real `pjob agent` processes on the real API server, record every
API request (its audit log), and check each one against the Helm chart's RBAC: every request
against the chart's ClusterRole, and the agents' requests (user agent
"pjob-agent") against the worker Role the operator creates. Until `pjob agent`
sends its own user agent, its requests are indistinguishable from the
operator's and only the first check covers them.

Lives in tests/kube for the fake cluster fixtures; the chart side comes from
tests/unit/deploy (rendered with Helm's Go SDK, skipped without it). Owned by
the deployment work (helm/pjob), see docs/deploy.md "RBAC".
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from operator_support import (
    apply_cr,
    copy_example,
    cr_for,
    prepare_cluster,
    start_operator,
    wait_operator_watching,
    wait_status,
    write_parallel_yaml,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "deploy"))
import chart_render
from pjob.kube import builders

Grant = tuple[str, str, str]


AGENT_UA = "pjob-agent"  # user agent `pjob agent` is asked to send (pjob.kube.kubeio); until then agents look like the operator


def observed(records, *, agents: bool) -> set[Grant]:
    """(group, resource[/subresource], verb) of resource requests by the agents
    (user agent pjob-agent) or by everything else (pjob's operator client, kopf)."""
    out = set()
    for r in records:
        if not r.resource:  # discovery (/api, /apis/...): allowed to every authenticated user
            continue
        if agents and AGENT_UA not in r.user_agent:
            continue
        if not agents and not ("pjob-operator" in r.user_agent or "kopf" in r.user_agent):
            continue  # the test's own requests (cluster admin) are not the operator's
        resource = f"{r.resource}/{r.subresource}" if r.subresource else r.resource
        out.add((r.group or "", resource, r.verb))
    return out


@pytest.fixture
def rendered_cluster_role():
    chart_render.require_helm()
    (role,) = chart_render.by_kind(chart_render.objects(chart_render.render({})), "ClusterRole")
    return role


def test_every_request_of_operator_and_agents_is_granted_by_the_chart(
    rendered_cluster_role, kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    root, env = prepare_cluster(kube_api, apply_crds, kube_env, tmp_path)
    operator = start_operator(start_process, env)
    wait_operator_watching(wait_for_request)

    example = copy_example("file-processing", root)
    apply_cr(kube_api, cr_for(write_parallel_yaml(example, instances=2), name="words"))
    apply_cr(kube_api, cr_for(example / "pipeline.yml", name="words-pipeline"))
    for plural, name in (("paralleljobs", "words"), ("pipelinejobs", "words-pipeline")):
        status = wait_status(
            kube_api, plural, name, lambda s: s.get("state") in ("Succeeded", "Failed"), operator, timeout=120
        )
        assert status["state"] == "Succeeded", status

    records = list(kube_api.requests)
    operator_calls = observed(records, agents=False)
    agent_calls = observed(records, agents=True)
    assert ("pjob.dev", "paralleljobs", "watch") in operator_calls and ("batch", "jobs", "create") in operator_calls
    assert any(g == "coordination.k8s.io" for g, _, _ in operator_calls | agent_calls), "no coordinator request seen"

    granted = chart_render.grants(rendered_cluster_role["rules"])
    assert sorted((operator_calls | agent_calls) - granted) == [], "a call the chart's ClusterRole does not grant"
    worker_role = builders.build_worker_role(
        {
            "apiVersion": "pjob.dev/v1alpha1",
            "kind": "ParallelJob",
            "metadata": {"name": "words", "namespace": "default", "uid": "u"},
        }
    )
    assert sorted(agent_calls - chart_render.grants(worker_role["rules"])) == [], (
        "an agent called what its per-job Role does not grant"
    )
    assert {r.namespace for r in records if r.resource and AGENT_UA in r.user_agent} <= {"default"}, (
        "agents stay in their job's namespace"
    )
