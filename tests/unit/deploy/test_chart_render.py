"""The chart rendered by Helm's own engine (helm-python-sdk) in every
supported configuration: each object matches the Kubernetes API types, the
operator pod is locked down and probed on kopf's /healthz, the operator
config (config.json) carries valid, locked-down worker-pod defaults, and bad
values fail with a message. Skipped when helm-python-sdk is missing.
"""

from __future__ import annotations

import sys

import pytest
from chart_render import (
    CHART,
    REPO,
    by_kind,
    diff_paths,
    objects,
    operator_config,
    render,
    require_helm,
    strict_roundtrip,
)

MODELS = {
    "ServiceAccount": "V1ServiceAccount",
    "ClusterRole": "V1ClusterRole",
    "ClusterRoleBinding": "V1ClusterRoleBinding",
    "Role": "V1Role",
    "RoleBinding": "V1RoleBinding",
    "ConfigMap": "V1ConfigMap",
    "Secret": "V1Secret",
    "Deployment": "V1Deployment",
    "PersistentVolumeClaim": "V1PersistentVolumeClaim",
}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding"}

SCENARIOS = {
    "default": {},
    "namespaced": {"operator": {"watchNamespaces": ["team-a", "team-b"]}},
    "object-store-inline": {
        "datastore": {
            "type": "objectStore",
            "objectStore": {
                "url": "s3://bucket/pjob",
                "credentials": {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
                "endpointUrl": "http://minio.minio:9000",
            },
        }
    },
    "object-store-existing-secret": {
        "datastore": {"type": "objectStore", "objectStore": {"url": "s3://b/p", "existingSecret": "s3-creds"}}
    },
    "existing-claim-pip-cache": {
        "datastore": {"pvc": {"create": False, "existingClaim": "shared-nfs"}},
        "worker": {
            "pipFromCondaFile": {
                "enabled": True,
                "cacheClaim": "pip-cache",
                "extraArgs": ["--index-url", "https://mirror/simple"],
            }
        },
        "imagePullSecrets": [{"name": "regcred"}],
        "operator": {
            "nodeSelector": {"pool": "system"},
            "tolerations": [{"key": "system", "operator": "Exists"}],
            "extraEnv": [{"name": "X", "value": "1"}],
        },
    },
}


sys.path.insert(0, str(REPO / "tests" / "e2e"))
import kind_cluster  # noqa: E402

SCENARIOS["kind-e2e"] = kind_cluster.e2e_values("pjob:e2e")


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request):
    values = SCENARIOS[request.param]
    return request.param, values, objects(render(values))


def _operator(objs):
    (dep,) = by_kind(objs, "Deployment")
    return dep


def _clean(obj):
    return {k: v for k, v in obj.items() if k != "__template__"}


def test_every_object_matches_the_kubernetes_api_types(scenario):
    name, _, objs = scenario
    assert objs
    for obj in objs:
        model = MODELS.get(obj["kind"])
        assert model, f"{name}: unexpected kind {obj['kind']} from {obj['__template__']}"
        obj = _clean(obj)
        assert diff_paths(obj, strict_roundtrip(obj, model)) == [], (
            f"{name}: {obj['kind']} has fields the API does not know"
        )


def test_objects_live_in_the_release_or_watched_namespaces(scenario):
    name, values, objs = scenario
    allowed = {"pjob-system", *values.get("operator", {}).get("watchNamespaces", [])}
    for obj in objs:
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"]
        else:
            assert obj["metadata"]["namespace"] in allowed, f"{name}: {obj['kind']} {obj['metadata']['name']}"


def test_operator_pod_is_locked_down_with_resources_and_liveness(scenario):
    _, _, objs = scenario
    dep = _operator(objs)
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"] is True
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert c["args"][:2] == ["operator", "run"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in c["args"]
    probe = c["livenessProbe"]["httpGet"]
    port = {p["name"]: p["containerPort"] for p in c["ports"]}[probe["port"]]
    assert (probe["path"], port) == ("/healthz", 8080)
    # read-only root: /tmp must be a writable volume, HOME inside it
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts["/tmp"] in {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    env = {e["name"]: e for e in c["env"]}
    assert env["HOME"]["value"] == "/tmp" and env["PJOB_CONFIG_FILE"]["value"] == "/etc/pjob/config.json"
    assert mounts["/etc/pjob"] == "config"


def test_operator_namespace_arguments_follow_the_mode(scenario):
    name, values, objs = scenario
    args = _operator(objs)["spec"]["template"]["spec"]["containers"][0]["args"]
    watched = values.get("operator", {}).get("watchNamespaces", [])
    if watched:
        assert "--all-namespaces" not in args
        assert [a for a in args if a.startswith("--namespace=")] == [f"--namespace={ns}" for ns in watched]
    else:
        assert "--all-namespaces" in args and not any(a.startswith("--namespace") for a in args)


def test_worker_defaults_are_valid_pod_fragments_and_locked_down(scenario):
    name, values, objs = scenario
    worker = operator_config(objs)["worker"]
    fragments = {
        "podSecurityContext": "V1PodSecurityContext",
        "securityContext": "V1SecurityContext",
        "resources": "V1ResourceRequirements",
        "affinity": "V1Affinity",
    }
    for key, model in fragments.items():
        assert diff_paths(worker[key], strict_roundtrip(worker[key], model)) == [], f"{name}: worker.{key}"
    for key, model in {
        "volumes": "V1Volume",
        "volumeMounts": "V1VolumeMount",
        "env": "V1EnvVar",
        "envFrom": "V1EnvFromSource",
        "tolerations": "V1Toleration",
        "imagePullSecrets": "V1LocalObjectReference",
    }.items():
        for item in worker[key]:
            assert diff_paths(item, strict_roundtrip(item, model)) == [], f"{name}: worker.{key}"
    for item in worker["gpu"]["tolerations"]:
        assert diff_paths(item, strict_roundtrip(item, "V1Toleration")) == []
    sc, psc = worker["securityContext"], worker["podSecurityContext"]
    assert psc["runAsNonRoot"] is True and psc["seccompProfile"]["type"] == "RuntimeDefault"
    assert (
        sc["readOnlyRootFilesystem"] is True
        and sc["allowPrivilegeEscalation"] is False
        and sc["capabilities"]["drop"] == ["ALL"]
    )
    volumes = {v["name"] for v in worker["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in worker["volumeMounts"]}
    assert set(mounts.values()) <= volumes, "a worker volumeMount names no volume"
    assert "/tmp" in mounts and worker["workDir"] in mounts, "read-only root needs writable /tmp and work dir"
    assert {"name": "HOME", "value": worker["workDir"]} in worker["env"]
    assert worker["image"].count(":") >= 1 and worker["gpu"]["resourceName"] == "nvidia.com/gpu"


def test_the_workers_mount_the_datastore_and_the_operator_does_not(scenario):
    name, values, objs = scenario
    config = operator_config(objs)
    store = config["datastores"]["items"][config["datastores"]["default"]]
    worker = config["worker"]
    pod = _operator(objs)["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    # the claim holds the run folders (logs, work files, shipped code, outputs) in both modes: every
    # worker (and finaliser) pod mounts it; the operator reads and writes API objects only
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v or "hostPath" in v or "nfs" in v]
    assert store["mountPath"] not in {m["mountPath"] for m in c["volumeMounts"]}
    assert {m["name"] for m in c["volumeMounts"]} == {"tmp", "config"}
    assert {"name": "datastore", "mountPath": store["mountPath"]} in worker["volumeMounts"]
    assert any(v.get("persistentVolumeClaim", {}).get("claimName") == store["claimName"] for v in worker["volumes"])
    pvcs = by_kind(objs, "PersistentVolumeClaim")
    if values.get("datastore", {}).get("pvc", {}).get("existingClaim"):
        assert pvcs == []
    else:
        assert [p["metadata"]["name"] for p in pvcs] == [store["claimName"]]
        wanted = values.get("datastore", {}).get("pvc", {}).get("accessModes", ["ReadWriteMany"])
        assert pvcs[0]["spec"]["accessModes"] == wanted
    # nor does the operator hold the object store's credentials
    assert "envFrom" not in c and not {e["name"] for e in c["env"]} & {"AWS_ENDPOINT_URL"}
    if store["type"] == "pvc":
        assert worker["envFrom"] == [] and by_kind(objs, "Secret") == []
    else:
        ref = {"secretRef": {"name": store["secretName"]}}
        assert worker["envFrom"] == [ref]
        secrets = by_kind(objs, "Secret")
        if values["datastore"]["objectStore"].get("existingSecret"):
            assert secrets == [] and store["secretName"] == "s3-creds"
        else:
            assert [s["metadata"]["name"] for s in secrets] == [store["secretName"]]
        assert store["url"].startswith("s3://")


def test_pip_from_conda_file_is_off_by_default_and_wired_when_on():
    off = operator_config(objects(render({})))["worker"]
    assert off["pipFromCondaFile"]["enabled"] is False
    assert not any(v["name"] == "pip-cache" for v in off["volumes"])
    on = operator_config(objects(render(SCENARIOS["existing-claim-pip-cache"])))["worker"]
    assert on["pipFromCondaFile"] == {"enabled": True, "command": "pjob-pip-env", "cachePath": "/var/cache/pjob-pip"}
    assert {"name": "pip-cache", "persistentVolumeClaim": {"claimName": "pip-cache"}} in on["volumes"]
    env = {e["name"]: e["value"] for e in on["env"]}
    assert env["PJOB_PIP_CACHE"] == "/var/cache/pjob-pip"
    assert env["PJOB_PIP_EXTRA_ARGS"] == "--index-url https://mirror/simple"


def test_config_checksum_restarts_the_operator_when_worker_defaults_change():
    def checksum(values):
        return _operator(objects(render(values)))["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"worker": {"nodeSelector": {"pool": "gpu"}}})


@pytest.mark.parametrize(
    "values, message",
    [
        ({"operator": {"watchNamespaces": ["team-*"]}}, "exact namespace names"),
        ({"datastore": {"type": "objectStore"}}, "datastore.objectStore.url is required"),
        ({"datastore": {"type": "objectStore", "objectStore": {"url": "s3://b"}}}, "existingSecret"),
        ({"datastore": {"type": "nfs"}}, "must be.*pvc.*objectStore"),
        ({"datastore": {"typ": "pvc"}}, "additional properties 'typ' not allowed"),
        ({"worker": {"gpu": {"resource": "amd.com/gpu"}}}, "additional properties 'resource' not allowed"),
        ({"datastore": {"pvc": {"create": False}}}, "existingClaim is required"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_value(values, message):
    """values.schema.json rejects typos and wrong types; the templates'
    `fail` calls reject combinations that cannot work."""
    helm = require_helm()
    with pytest.raises(helm.HelmError, match=message):
        render(values)


def test_notes_tell_how_to_check_submit_and_watch():
    notes = render({})["pjob/templates/NOTES.txt"]
    for text in (
        "rollout status deployment/pjob-operator",
        "pjob submit examples/",
        "pjob status",
        "pjob logs",
        "get paralleljobs",
    ):
        assert text in notes


def test_helm_lint_strict_finds_no_errors_or_warnings():
    helm = require_helm()
    for values in SCENARIOS.values():
        report = helm.lint(str(CHART), values, strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [] and problems == []
