"""OpenShift and volume ownership: the chart sets ``fsGroupChangePolicy:
OnRootMismatch`` on the operator and (through config.json and the
operator's builders) on every worker pod, and the OpenShift values that
docs/deploy.md documents (the ``openshift-values`` block) render pods with no
fixed runAsUser/runAsGroup/fsGroup that still meet Pod Security
"restricted". Rendered with Helm's own engine (helm-python-sdk)."""

from __future__ import annotations

import re

import pytest
import yaml
from chart_render import REPO, SCORE_CR, by_kind, objects, operator_config, render, score_task
from pod_security import restricted_violations

config_mod = pytest.importorskip("pjob.kube.config", reason="operator package pjob.kube not importable")
builders = pytest.importorskip("pjob.kube.builders", reason="operator package pjob.kube not importable")

FIXED_IDS = ("runAsUser", "runAsGroup", "fsGroup")


def documented_openshift_values() -> dict:
    text = (REPO / "docs" / "deploy.md").read_text()
    found = re.search(r"```yaml openshift-values\n(.*?)```", text, re.S)
    assert found, "docs/deploy.md has no ```yaml openshift-values block"
    return yaml.safe_load(found.group(1))


def _pods(values: dict) -> dict[str, dict]:
    """The operator pod spec and a worker pod spec built by the operator from the rendered config.json."""
    objs = objects(render(values, namespace="team-a"))
    operator_pod = by_kind(objs, "Deployment")[0]["spec"]["template"]["spec"]
    config = config_mod.OperatorConfig.from_dict(operator_config(objs))
    worker_pod = builders.build_worker_job(SCORE_CR, score_task(), config)["spec"]["template"]["spec"]
    return {"operator": operator_pod, "worker": worker_pod}


@pytest.mark.parametrize("values", [{}, "openshift"], ids=["defaults", "openshift"])
def test_volume_ownership_is_changed_only_on_a_root_mismatch(values):
    values = documented_openshift_values() if values == "openshift" else values
    for who, pod in _pods(values).items():
        assert pod["securityContext"].get("fsGroupChangePolicy") == "OnRootMismatch", who


def test_documented_openshift_values_leave_the_ids_to_the_platform_and_stay_restricted():
    for who, pod in _pods(documented_openshift_values()).items():
        context = pod["securityContext"]
        assert [k for k in FIXED_IDS if k in context] == [], f"{who} pod still fixes {context}"
        assert context["runAsNonRoot"] is True, who
        assert restricted_violations(pod) == [], who
