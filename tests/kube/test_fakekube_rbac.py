"""Opt-in RBAC on the fake API server: ServiceAccount tokens (what pods get from the fake kubelet)
are held to Roles/ClusterRoles bound to them, with the real 403 message; the request log says who
made each request, so tests can check the operator's and the agents' permissions."""
from __future__ import annotations

import json

import kubernetes
import kubernetes.client as k8s
import pytest

NS = "default"


def _as(fake_api, service_account):
    return kubernetes.config.new_client_from_config(config_file=str(fake_api.kubeconfig_for(NS, service_account)))


def _status(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except k8s.ApiException as error:
        return error.status, json.loads(error.body)
    return 200, {}


@pytest.fixture
def rbac_api(fake_api, kube_client):
    fake_api.enforce_rbac = True
    rbac = k8s.RbacAuthorizationV1Api(kube_client)
    rbac.create_namespaced_role(NS, {"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["allowed"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}]})
    rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "reader"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "worker", "namespace": NS}]})
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "queue"}, "data": {"n": "0"}})
    for name in ("allowed", "hidden"):
        core.create_namespaced_secret(NS, {"metadata": {"name": name}, "stringData": {"k": "v"}})
    return fake_api


def test_service_account_is_limited_to_its_role(rbac_api):
    with _as(rbac_api, "worker") as client:
        core = k8s.CoreV1Api(client)
        assert core.read_namespaced_config_map("queue", NS).data == {"n": "0"}
        code, body = _status(core.patch_namespaced_config_map, "queue", NS, {"data": {"n": "1"}})
        assert (code, body["reason"]) == (403, "Forbidden")
        assert body["message"] == ('configmaps "queue" is forbidden: User "system:serviceaccount:default:worker" '
                                   'cannot patch resource "configmaps" in API group "" in the namespace "default"')
        assert _status(core.read_namespaced_secret, "allowed", NS)[0] == 200
        assert _status(core.read_namespaced_secret, "hidden", NS)[0] == 403
        assert _status(core.list_namespaced_secret, NS)[0] == 403
        coordination = k8s.CoordinationV1Api(client)
        assert _status(coordination.create_namespaced_lease, NS, {"metadata": {"name": "agent-0"}})[0] == 200
    with _as(rbac_api, "nobody") as client:
        assert _status(k8s.CoreV1Api(client).read_namespaced_config_map, "queue", NS)[0] == 403
    users = {(r.user, r.code) for r in rbac_api.requests if r.resource == "configmaps" and r.verb == "patch"}
    assert users == {("system:serviceaccount:default:worker", 403)}


def test_cluster_roles_and_subresources(rbac_api, kube_client, apply_crds):
    apply_crds()
    rbac = k8s.RbacAuthorizationV1Api(kube_client)
    rbac.create_cluster_role({"metadata": {"name": "pj-status"}, "rules": [
        {"apiGroups": ["pjob.dev"], "resources": ["paralleljobs"], "verbs": ["get"]},
        {"apiGroups": ["pjob.dev"], "resources": ["paralleljobs/status"], "verbs": ["patch"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": "pj-status"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pj-status"},
        "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": NS}]})
    k8s.CustomObjectsApi(kube_client).create_namespaced_custom_object("pjob.dev", "v1alpha1", NS, "paralleljobs", {
        "apiVersion": "pjob.dev/v1alpha1", "kind": "ParallelJob", "metadata": {"name": "pj"},
        "spec": {"input_data": "${{inputs.data}}", "task": {"entry_script": "score.py"}}})
    with _as(rbac_api, "op") as client:
        custom = k8s.CustomObjectsApi(client)
        assert _status(custom.patch_namespaced_custom_object_status, "pjob.dev", "v1alpha1", NS, "paralleljobs", "pj",
                       {"status": {"state": "Running"}})[0] == 200
        assert _status(custom.patch_namespaced_custom_object, "pjob.dev", "v1alpha1", NS, "paralleljobs", "pj",
                       {"metadata": {"labels": {"x": "y"}}})[0] == 403
        assert _status(custom.list_cluster_custom_object, "pjob.dev", "v1alpha1", "paralleljobs")[0] == 403


def test_pods_authenticate_as_their_service_account(rbac_api, kube_client, kubelet, tmp_path):
    out = tmp_path / "result.json"
    code = ("import json, kubernetes; kubernetes.config.load_config(); core = kubernetes.client.CoreV1Api(); "
            "read = core.read_namespaced_config_map('queue', 'default').data\n"
            "try:\n    core.create_namespaced_config_map('default', {'metadata': {'name': 'mine'}}); made = 'yes'\n"
            "except kubernetes.client.ApiException as e:\n    made = e.status\n"
            f"open(r'{out}', 'w').write(json.dumps([read, made]))")
    k8s.BatchV1Api(kube_client).create_namespaced_job(NS, {"metadata": {"name": "agent"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "serviceAccountName": "worker",
        "containers": [{"name": "agent", "image": "pjob", "command": ["python", "-c", code]}]}}}})
    assert kubelet.wait_job(NS, "agent")["status"]["succeeded"] == 1
    assert json.loads(out.read_text()) == [{"n": "0"}, 403]
