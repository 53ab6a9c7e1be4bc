"""Pods pjob puts on a cluster pass the Pod Security "restricted" profile
(pod_security.py): the chart's operator pod in every value set and the e2e
reader pod; the worker and command-step pods are checked in
test_rendered_manifests.py. Plus: the checker rejects what restricted rejects.
"""

from __future__ import annotations

import copy
import sys

import pod_security
import pytest
from chart_render import REPO, by_kind, diff_paths, objects, render, strict_roundtrip
from test_chart_render import SCENARIOS

sys.path.insert(0, str(REPO / "tests" / "e2e"))
import kind_cluster


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_chart_operator_pod_is_restricted(scenario):
    (dep,) = by_kind(objects(render(SCENARIOS[scenario])), "Deployment")
    assert pod_security.restricted_violations(dep["spec"]["template"]["spec"]) == []


GOOD = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
    ],
    "volumes": [{"name": "t", "emptyDir": {}}],
}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.update(hostNetwork=True), "hostNetwork"),
        (lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
        (
            lambda p: p["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation",
        ),
        (lambda p: p["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
        (lambda p: p["securityContext"].pop("seccompProfile"), "seccompProfile"),
        (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(drop=[]), "drop ALL"),
        (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), "SYS_ADMIN"),
        (lambda p: p["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (lambda p: p["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]), "hostPort"),
    ],
)
def test_checker_rejects_what_restricted_rejects(change, message):
    assert pod_security.restricted_violations(GOOD) == []
    pod = copy.deepcopy(GOOD)
    change(pod)
    assert any(message in p for p in pod_security.restricted_violations(pod))


def test_e2e_reader_pod_is_restricted():
    pod = kind_cluster.reader_pod("r", "pjob:e2e", "runs/ns/job/steps", "*/outputs/*")
    assert pod_security.restricted_violations(pod["spec"]) == []
    assert diff_paths(pod, strict_roundtrip(pod, "V1Pod")) == []
