"""Custom resources on the fake API server: CRDs make resources servable (discovery included),
the status subresource is isolated from the main resource, generation tracks spec changes,
and the API rejects what a real server rejects for custom resources."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import kubernetes.client as k8s
import pytest

NS = "default"
GROUP, VERSION, PLURAL = "pjob.dev", "v1alpha1", "paralleljobs"
VALID = {"input_data": "${{inputs.data}}", "task": {"entry_script": "score.py"}}  # the CRD's required fields


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _create(custom, name="pj", spec=None, status=None):
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ParallelJob", "metadata": {"name": name},
            "spec": {**VALID, **(spec or {"display_name": "a"})}}
    if status is not None:
        body["status"] = status
    return custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)


def test_crd_makes_the_resource_discoverable_with_its_status_subresource(fake_api, apply_crds):
    assert GROUP not in [g["name"] for g in _get_json(f"{fake_api.url}/apis")["groups"]]
    apply_crds()
    groups = {g["name"]: g for g in _get_json(f"{fake_api.url}/apis")["groups"]}
    assert groups[GROUP]["preferredVersion"]["version"] == VERSION
    resources = {r["name"]: r for r in _get_json(f"{fake_api.url}/apis/{GROUP}/{VERSION}")["resources"]}
    assert resources["paralleljobs"]["kind"] == "ParallelJob" and resources["paralleljobs"]["namespaced"]
    assert resources["paralleljobs"]["shortNames"] == ["pj"] and "watch" in resources["paralleljobs"]["verbs"]
    assert "paralleljobs/status" in resources and "pipelinejobs/status" in resources
    assert _get_json(f"{fake_api.url}/api")["versions"] == ["v1"]
    assert _get_json(f"{fake_api.url}/version")["major"] == "1"
    core = {r["name"] for r in _get_json(f"{fake_api.url}/api/v1")["resources"]}
    assert {"pods", "pods/status", "pods/log", "configmaps", "events", "namespaces"} <= core
    crd = fake_api.get("apiextensions.k8s.io/v1", "customresourcedefinitions", "paralleljobs.pjob.dev")
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"


def test_status_subresource_is_isolated_and_generation_tracks_spec(apply_crds, kube_client):
    apply_crds()
    custom = k8s.CustomObjectsApi(kube_client)
    created = _create(custom, status={"state": "ignored on create"})
    assert "status" not in created and created["metadata"]["generation"] == 1

    with_status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "pj", {"status": {"state": "Running"}, "spec": {"display_name": "not via status"}})
    assert with_status["status"] == {"state": "Running"} and with_status["spec"] == {**VALID, "display_name": "a"}
    assert with_status["metadata"]["generation"] == 1

    main = custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "pj", {"status": {"state": "Hacked"}, "metadata": {"labels": {"l": "v"}}})
    assert main["status"] == {"state": "Running"} and main["metadata"]["generation"] == 1

    main["spec"]["display_name"] = "b"
    main["status"] = {"state": "Hacked again"}
    replaced = custom.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "pj", main)
    assert replaced["spec"]["display_name"] == "b" and replaced["status"] == {"state": "Running"}
    assert replaced["metadata"]["generation"] == 2

    replaced["status"] = {"state": "Succeeded"}
    via_status = custom.replace_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "pj", replaced)
    assert via_status["status"] == {"state": "Succeeded"} and via_status["metadata"]["generation"] == 2


def test_custom_resources_reject_strategic_merge_and_unconditional_put(apply_crds, kube_client):
    apply_crds()
    custom = k8s.CustomObjectsApi(kube_client)
    obj = _create(custom)
    with pytest.raises(k8s.ApiException) as caught:
        custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "pj", {"spec": {"display_name": "x"}},
                                              _content_type="application/strategic-merge-patch+json")
    assert caught.value.status == 415
    del obj["metadata"]["resourceVersion"]
    with pytest.raises(k8s.ApiException) as caught:
        custom.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "pj", obj)
    assert caught.value.status == 422


def test_schema_prunes_undeclared_fields_but_keeps_preserved_ones(apply_crds, kube_client):
    apply_crds()
    custom = k8s.CustomObjectsApi(kube_client)
    _create(custom, spec={"display_name": "a", "typo_field": 1, "tags": {"free": {"form": True}}})
    patched = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "pj", {"status": {"miniBatches": {"total": 3, "bogus": 1}, "extra": "kept"}})
    assert patched["spec"] == {**VALID, "display_name": "a", "tags": {"free": {"form": True}}}
    assert patched["status"] == {"miniBatches": {"total": 3}, "extra": "kept"}


def test_schema_violations_are_422_invalid_with_every_problem_listed(apply_crds, kube_client):
    apply_crds()
    custom = k8s.CustomObjectsApi(kube_client)
    with pytest.raises(k8s.ApiException) as caught:
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "ParallelJob", "metadata": {"name": "bad"},
            "spec": {"input_data": "${{inputs.data}}", "mini_batch_size": "10 kb", "logging_level": "LOUD"}})
    body = json.loads(caught.value.body)
    assert (caught.value.status, body["reason"]) == (422, "Invalid")
    assert sorted(cause["field"] for cause in body["details"]["causes"]) == \
        ["spec.logging_level", "spec.mini_batch_size", "spec.task"]
    _create(custom)
    with pytest.raises(k8s.ApiException) as caught:
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "pj",
                                                     {"status": {"miniBatches": {"total": "many"}}})
    assert caught.value.status == 422


def test_deleting_a_crd_removes_its_objects_and_stops_serving_it(fake_api, apply_crds, kube_client):
    apply_crds()
    custom = k8s.CustomObjectsApi(kube_client)
    _create(custom)
    k8s.ApiextensionsV1Api(kube_client).delete_custom_resource_definition("paralleljobs.pjob.dev")
    with pytest.raises(k8s.ApiException) as caught:
        custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
    assert caught.value.status == 404
    assert "paralleljobs" not in {r["name"] for r in _get_json(f"{fake_api.url}/apis/{GROUP}/{VERSION}")["resources"]}


def test_cluster_wide_list_and_watch_of_custom_resources(apply_crds, kube_client):
    from kubernetes import watch

    apply_crds()
    k8s.CoreV1Api(kube_client).create_namespace({"metadata": {"name": "other"}})
    custom = k8s.CustomObjectsApi(kube_client)
    _create(custom, "a")
    custom.create_namespaced_custom_object(GROUP, VERSION, "other", PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "ParallelJob", "metadata": {"name": "b"}, "spec": VALID})
    listed = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed["items"]) == \
        [("default", "a"), ("other", "b")]
    events = list(watch.Watch().stream(custom.list_cluster_custom_object, GROUP, VERSION, PLURAL, timeout_seconds=1))
    assert sorted(e["object"]["metadata"]["name"] for e in events) == ["a", "b"]


def test_python_dash_m_fakekube_serves_until_terminated(tmp_path):
    here = Path(__file__).parent
    process = subprocess.Popen([sys.executable, "-m", "fakekube", "--port", "0", "--workdir", str(tmp_path)],
                               cwd=here, stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split()[-1]
        assert _get_json(f"{url}/api/v1/namespaces/default")["metadata"]["name"] == "default"
        assert process.stdout.readline().startswith("export KUBECONFIG=")
        assert (tmp_path / "kubeconfig.yaml").exists()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
