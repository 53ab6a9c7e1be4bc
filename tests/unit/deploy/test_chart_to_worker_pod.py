"""Chart -> operator -> worker pod: the config.json the chart renders is
loaded by the operator's own ``OperatorConfig`` and turned into a worker Job
and Role by its builders, and the result is a valid, locked-down batch/v1
Job that the chart's RBAC lets the operator create. Skipped when Helm (the
helm-python-sdk wheel) or the operator package is missing.
"""

from __future__ import annotations

import pytest
from chart_render import (
    SCORE_CR,
    by_kind,
    diff_paths,
    grants,
    objects,
    operator_config,
    render,
    score_task,
    strict_roundtrip,
)

config_mod = pytest.importorskip("pjob.kube.config", reason="operator package pjob.kube not importable")
builders = pytest.importorskip("pjob.kube.builders", reason="operator package pjob.kube not importable")


@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "datastore": {"type": "objectStore", "objectStore": {"url": "s3://b/p", "existingSecret": "creds"}},
            "worker": {"nodeSelector": {"pool": "batch"}, "image": {"repository": "my/pjob-plus", "tag": "7"}},
        },
    ],
    ids=["pvc", "object-store"],
)
def test_worker_job_built_from_the_rendered_config_is_valid_and_locked_down(values):
    objs = objects(render(values, namespace="team-a"))
    config = config_mod.OperatorConfig.from_dict(operator_config(objs))
    job = builders.build_worker_job(SCORE_CR, score_task(instance_count=3), config)
    assert diff_paths(job, strict_roundtrip(job, "V1Job")) == []
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (
        pod["securityContext"]["runAsNonRoot"] is True
        and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    sc = container["securityContext"]
    assert (
        sc["readOnlyRootFilesystem"] is True
        and sc["allowPrivilegeEscalation"] is False
        and sc["capabilities"]["drop"] == ["ALL"]
    )
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts and container["workingDir"] in mounts
    assert set(mounts.values()) <= {v["name"] for v in pod["volumes"]}
    assert container["args"][0] == "agent"
    # the run folder (logs, work files) is on the shared claim in both datastore modes: with the root
    # filesystem read-only, an unmounted run folder would stop every agent (object-store mode once did)
    task = score_task(instance_count=3)
    assert config.datastore_root == "/mnt/pjob" and mounts["/mnt/pjob"] == "datastore"
    assert all(any(path.startswith(m.rstrip("/") + "/") for m in mounts) for path in (task.logs_dir, task.work_dir))
    claim = [v for v in pod["volumes"] if v["name"] == "datastore"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == by_kind(objs, "PersistentVolumeClaim")[0]["metadata"]["name"]
    if values:
        assert container["image"] == "my/pjob-plus:7"
        assert container["envFrom"] == [{"secretRef": {"name": "creds"}}]
        assert pod["nodeSelector"] == {"pool": "batch"}
        assert config.datastore_urls == {"workspaceblobstore": "s3://b/p"}
    else:
        assert container["image"] == "ghcr.io/pjob-dev/pjob:0.1.0"


def test_operator_can_create_the_worker_role_it_builds():
    role = builders.build_worker_role(SCORE_CR)
    assert diff_paths(role, strict_roundtrip(role, "V1Role")) == []
    (ns_role,) = by_kind(objects(render({"operator": {"watchNamespaces": ["team-a"]}})), "Role")
    assert grants(role["rules"]) - grants(ns_role["rules"]) == set()
