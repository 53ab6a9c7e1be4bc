"""The fake API server behaves like kube-apiserver for what pjob relies on, seen through the
official `kubernetes` client: CRUD, Status errors, optimistic concurrency, selectors, watch,
patch flavours, and the request log."""
from __future__ import annotations

import json
import threading

import kubernetes.client as k8s
import pytest
from kubernetes import watch

NS = "default"


def _cm(name, labels=None, data=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data or {}}


def _error(call, *args, **kwargs) -> tuple[int, dict]:
    with pytest.raises(k8s.ApiException) as caught:
        call(*args, **kwargs)
    return caught.value.status, json.loads(caught.value.body)


def test_crud_round_trip_sets_metadata_and_bumps_resource_version(kube_client):
    core = k8s.CoreV1Api(kube_client)
    created = core.create_namespaced_config_map(NS, _cm("a", data={"x": "1"}))
    assert created.metadata.uid and created.metadata.creation_timestamp and created.metadata.resource_version
    fetched = core.read_namespaced_config_map("a", NS)
    assert fetched.data == {"x": "1"} and fetched.metadata.resource_version == created.metadata.resource_version
    patched = core.patch_namespaced_config_map("a", NS, {"data": {"y": "2"}})
    assert patched.data == {"x": "1", "y": "2"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    patched.data = {"z": "3"}
    replaced = core.replace_namespaced_config_map("a", NS, patched)
    assert replaced.data == {"z": "3"}
    status = core.delete_namespaced_config_map("a", NS)
    assert status["status"] == "Success"
    code, body = _error(core.read_namespaced_config_map, "a", NS)
    assert code == 404
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404
    assert body["message"] == 'configmaps "a" not found'


def test_create_twice_is_409_already_exists(kube_client):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, _cm("dup"))
    code, body = _error(core.create_namespaced_config_map, NS, _cm("dup"))
    assert (code, body["reason"], body["details"]["name"]) == (409, "AlreadyExists", "dup")


def test_stale_resource_version_is_409_conflict_for_replace_and_patch(kube_client):
    core = k8s.CoreV1Api(kube_client)
    stale = core.create_namespaced_config_map(NS, _cm("c", data={"n": "0"}))
    fresh = core.read_namespaced_config_map("c", NS)
    fresh.data = {"n": "1"}
    core.replace_namespaced_config_map("c", NS, fresh)
    stale.data = {"n": "2"}
    code, body = _error(core.replace_namespaced_config_map, "c", NS, stale)
    assert (code, body["reason"]) == (409, "Conflict")
    code, body = _error(core.patch_namespaced_config_map, "c", NS,
                        {"metadata": {"resourceVersion": stale.metadata.resource_version}, "data": {"n": "3"}})
    assert (code, body["reason"]) == (409, "Conflict")
    assert core.read_namespaced_config_map("c", NS).data == {"n": "1"}


def test_concurrent_read_modify_write_with_retry_on_409_loses_no_update(fake_api, kube_client):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, _cm("counter", data={"n": "0"}))
    conflicts = []

    def increment(times):
        with fake_api.client() as client:  # one connection pool per writer, like separate agents
            write_times(k8s.CoreV1Api(client), times)

    def write_times(api, times):
        for _ in range(times):
            while True:
                current = api.read_namespaced_config_map("counter", NS)
                current.data["n"] = str(int(current.data["n"]) + 1)
                try:
                    api.replace_namespaced_config_map("counter", NS, current)
                    break
                except k8s.ApiException as error:
                    assert error.status == 409
                    conflicts.append(1)

    writers = [threading.Thread(target=increment, args=(10,)) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert core.read_namespaced_config_map("counter", NS).data["n"] == "30"
    assert len(fake_api.writes("configmaps")) == 31 + len(conflicts)


def test_noop_patch_does_not_bump_resource_version(kube_client):
    core = k8s.CoreV1Api(kube_client)
    created = core.create_namespaced_config_map(NS, _cm("same", data={"a": "1"}))
    again = core.patch_namespaced_config_map("same", NS, {"data": {"a": "1"}})
    assert again.metadata.resource_version == created.metadata.resource_version


def test_namespace_must_exist_and_names_are_validated(kube_client):
    core = k8s.CoreV1Api(kube_client)
    code, body = _error(core.create_namespaced_config_map, "nowhere", _cm("x"))
    assert (code, body["reason"]) == (404, "NotFound")
    code, body = _error(core.create_namespaced_config_map, NS, _cm("Bad_Name"))
    assert (code, body["reason"]) == (422, "Invalid")
    core.create_namespace({"metadata": {"name": "team-a"}})
    assert core.read_namespaced_service_account("default", "team-a").metadata.name == "default"


def test_generate_name_gives_unique_names(kube_client):
    core = k8s.CoreV1Api(kube_client)
    names = {core.create_namespaced_config_map(NS, {"metadata": {"generateName": "gen-"}}).metadata.name
             for _ in range(5)}
    assert len(names) == 5 and all(name.startswith("gen-") and len(name) == 9 for name in names)


def test_label_and_field_selectors(kube_client):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, _cm("one", {"app": "pjob", "tier": "a"}))
    core.create_namespaced_config_map(NS, _cm("two", {"app": "pjob", "tier": "b"}))
    core.create_namespaced_config_map(NS, _cm("three", {"app": "other"}))

    def names(**kwargs):
        return sorted(cm.metadata.name for cm in core.list_namespaced_config_map(NS, **kwargs).items)

    assert names(label_selector="app=pjob") == ["one", "two"]
    assert names(label_selector="app==pjob,tier!=a") == ["two"]
    assert names(label_selector="tier in (a, b)") == ["one", "two"]
    assert names(label_selector="app,tier notin (a)") == ["three", "two"]
    assert names(label_selector="tier") == ["one", "two"]
    assert names(label_selector="!tier") == ["kube-root-ca.crt", "three"]
    assert names(field_selector="metadata.name=two") == ["two"]
    assert names(field_selector="metadata.name!=two", label_selector="app") == ["one", "three"]
    assert [cm.metadata.name for cm in core.list_config_map_for_all_namespaces(label_selector="app=other").items] \
        == ["three"]


def test_list_pagination_with_limit_and_continue(kube_client):
    core = k8s.CoreV1Api(kube_client)
    for i in range(5):
        core.create_namespaced_config_map(NS, _cm(f"p{i}", {"page": "yes"}))
    first = core.list_namespaced_config_map(NS, label_selector="page", limit=2)
    second = core.list_namespaced_config_map(NS, label_selector="page", limit=2, _continue=first.metadata._continue)
    third = core.list_namespaced_config_map(NS, label_selector="page", limit=2, _continue=second.metadata._continue)
    assert [c.metadata.name for c in first.items + second.items + third.items] == [f"p{i}" for i in range(5)]
    assert third.metadata._continue is None


def test_watch_replays_from_resource_version_and_streams_new_events(kube_client):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, _cm("before"))
    start_rv = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, _cm("w", {"watch": "me"}))
    core.patch_namespaced_config_map("w", NS, {"data": {"k": "v"}})

    def later_writes():
        core.delete_namespaced_config_map("w", NS)

    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, NS, resource_version=start_rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            threading.Thread(target=later_writes).start()
        if len(seen) == 3:
            stream.stop()
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_watch_without_resource_version_starts_with_current_objects(kube_client):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, _cm("existing", {"sel": "x"}))
    events = list(watch.Watch().stream(core.list_namespaced_config_map, NS, label_selector="sel", timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "existing")]


def test_watch_with_label_selector_sees_objects_enter_and_leave(fake_api, kube_client):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, _cm("m", {"state": "no"}))
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    core.patch_namespaced_config_map("m", NS, {"metadata": {"labels": {"state": "yes"}}})
    core.patch_namespaced_config_map("m", NS, {"data": {"a": "b"}})
    core.patch_namespaced_config_map("m", NS, {"metadata": {"labels": {"state": "no"}}})
    events = list(watch.Watch().stream(core.list_namespaced_config_map, NS, label_selector="state=yes",
                                       resource_version=rv, timeout_seconds=1))
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_from_compacted_resource_version_gets_410_gone(fake_api):
    import urllib.request

    fake_api.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": NS}})
    fake_api.store.compact()
    url = f"{fake_api.url}/api/v1/namespaces/{NS}/configmaps?watch=true&resourceVersion=1&timeoutSeconds=1"
    with urllib.request.urlopen(url, timeout=5) as response:
        first = json.loads(response.readline())
    assert first["type"] == "ERROR" and first["object"]["code"] == 410 and first["object"]["reason"] == "Expired"


def test_owner_reference_cascade_background_and_job_default_orphan(fake_api, kube_client):
    core, batch = k8s.CoreV1Api(kube_client), k8s.BatchV1Api(kube_client)
    owner = core.create_namespaced_config_map(NS, _cm("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    child = core.create_namespaced_config_map(NS, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    grandchild_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "child", "uid": child.metadata.uid}
    core.create_namespaced_secret(NS, {"metadata": {"name": "grandchild", "ownerReferences": [grandchild_ref]}})
    core.delete_namespaced_config_map("owner", NS)
    assert fake_api.get("v1", "configmaps", "child", NS) is None
    assert fake_api.get("v1", "secrets", "grandchild", NS) is None

    job = batch.create_namespaced_job(NS, {"metadata": {"name": "j"}, "spec": {"suspend": True, "template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    job_ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": job.metadata.uid}
    core.create_namespaced_config_map(NS, {"metadata": {"name": "kept", "ownerReferences": [job_ref]}})
    batch.delete_namespaced_job("j", NS)  # no propagationPolicy: batch/v1 orphans dependents
    kept = fake_api.get("v1", "configmaps", "kept", NS)
    assert kept is not None and "ownerReferences" not in kept["metadata"]


def test_dangling_owner_reference_is_garbage_collected(fake_api, kube_client):
    core = k8s.CoreV1Api(kube_client)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}
    core.create_namespaced_config_map(NS, {"metadata": {"name": "dangling", "ownerReferences": [ref]}})
    assert fake_api.get("v1", "configmaps", "dangling", NS) is None


def test_finalizers_hold_deletion_until_removed(fake_api, kube_client):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("f", NS)
    held = core.read_namespaced_config_map("f", NS)
    assert held.metadata.deletion_timestamp is not None
    code, body = _error(core.patch_namespaced_config_map, "f", NS,
                        {"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}})
    assert code == 422
    core.patch_namespaced_config_map("f", NS, [{"op": "remove", "path": "/metadata/finalizers/0"}])
    assert fake_api.get("v1", "configmaps", "f", NS) is None


def test_namespace_deletion_removes_its_objects(fake_api, kube_client):
    core = k8s.CoreV1Api(kube_client)
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", _cm("inside"))
    core.delete_namespace("doomed")
    assert fake_api.get("v1", "namespaces", "doomed") is None
    assert fake_api.get("v1", "configmaps", "inside", "doomed") is None


def test_json_patch_test_failure_is_422_and_ops_apply(kube_client):
    core = k8s.CoreV1Api(kube_client)
    created = core.create_namespaced_config_map(NS, {"metadata": {"name": "jp", "annotations": {"a/b": "1"}}})
    rv = created.metadata.resource_version
    ok = core.patch_namespaced_config_map("jp", NS, [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
        {"op": "add", "path": "/data", "value": {"k": "v"}}])
    assert ok.metadata.annotations == {"a/b": "2"} and ok.data == {"k": "v"}
    code, body = _error(core.patch_namespaced_config_map, "jp", NS,
                        [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}])
    assert (code, body["reason"]) == (422, "Invalid")


def test_strategic_merge_merges_containers_by_name(kube_client):
    batch = k8s.BatchV1Api(kube_client)
    batch.create_namespaced_job(NS, {"metadata": {"name": "smp"}, "spec": {"suspend": True, "template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    patched = batch.patch_namespaced_job("smp", NS, {"metadata": {"labels": {"x": "y"}}, "spec": {"suspend": False}})
    assert patched.spec.suspend is False and patched.metadata.labels["x"] == "y"
    assert patched.metadata.labels["job-name"] == "smp"
    code, body = _error(batch.patch_namespaced_job, "smp", NS,
                        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "other"}]}}}})
    assert (code, body["reason"]) == (422, "Invalid")  # a Job's template is immutable


def test_job_defaults_and_validation(kube_client):
    batch = k8s.BatchV1Api(kube_client)
    job = batch.create_namespaced_job(NS, {"metadata": {"name": "d"}, "spec": {
        "completionMode": "Indexed", "completions": 2, "parallelism": 2, "suspend": True,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}})
    assert job.spec.backoff_limit == 6
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": job.metadata.uid}
    assert job.spec.template.metadata.labels["batch.kubernetes.io/job-name"] == "d"
    code, body = _error(batch.create_namespaced_job, NS, {"metadata": {"name": "bad"}, "spec": {"template": {
        "spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "i"}]}}}})
    assert (code, body["reason"]) == (422, "Invalid")
    assert "restartPolicy" in body["message"]


def test_delete_collection_by_label(fake_api, kube_client):
    core = k8s.CoreV1Api(kube_client)
    for name in ("x1", "x2"):
        core.create_namespaced_config_map(NS, _cm(name, {"sweep": "yes"}))
    core.create_namespaced_config_map(NS, _cm("x3"))
    core.delete_collection_namespaced_config_map(NS, label_selector="sweep=yes")
    assert [c["metadata"]["name"] for c in fake_api.list("v1", "configmaps", NS)] == ["kube-root-ca.crt", "x3"]


def test_leases_rbac_and_events_are_served(kube_client):
    coordination = k8s.CoordinationV1Api(kube_client)
    lease = coordination.create_namespaced_lease(NS, {"metadata": {"name": "agent-0"}, "spec": {
        "holderIdentity": "agent-0", "leaseDurationSeconds": 10}})
    lease.spec.renew_time = "2026-01-01T00:00:00.000000Z"
    assert coordination.replace_namespaced_lease("agent-0", NS, lease).spec.holder_identity == "agent-0"
    rbac = k8s.RbacAuthorizationV1Api(kube_client)
    rbac.create_namespaced_role(NS, {"metadata": {"name": "r"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
    rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "rb"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": NS}]})

def test_events_posted_through_either_api_are_listed_by_both(kube_client):
    events, core = k8s.EventsV1Api(kube_client), k8s.CoreV1Api(kube_client)
    events.create_namespaced_event(NS, {"metadata": {"name": "e-new"}, "eventTime": "2026-01-01T00:00:00.000000Z",
                                        "reason": "Test", "action": "Testing", "reportingController": "ctl",
                                        "reportingInstance": "i", "type": "Normal", "note": "via events.k8s.io",
                                        "regarding": {"kind": "Pod", "name": "p"}})
    core.create_namespaced_event(NS, {"metadata": {"name": "e-old"}, "involvedObject": {"kind": "Pod", "name": "q"},
                                      "reason": "Test", "message": "via core", "type": "Warning",
                                      "eventTime": "2026-01-01T00:00:00.000000Z"})  # else null: the v1 model rejects it
    by_core = {e.metadata.name: e for e in core.list_namespaced_event(NS).items}
    assert by_core["e-new"].message == "via events.k8s.io" and by_core["e-new"].involved_object.name == "p"
    assert by_core["e-new"].reporting_component == "ctl"
    by_new = {e.metadata.name: e for e in events.list_namespaced_event(NS).items}
    assert by_new["e-old"].note == "via core" and by_new["e-old"].regarding.name == "q"


def test_request_log_counts_writes(fake_api, kube_client):
    core = k8s.CoreV1Api(kube_client)
    fake_api.clear_requests()
    core.create_namespaced_config_map(NS, _cm("counted"))
    core.read_namespaced_config_map("counted", NS)
    core.patch_namespaced_config_map("counted", NS, {"data": {"a": "b"}})
    core.list_namespaced_config_map(NS)
    assert [(r.verb, r.resource, r.code) for r in fake_api.writes()] == [("create", "configmaps", 201),
                                                                           ("patch", "configmaps", 200)]
    assert [r.verb for r in fake_api.requests] == ["create", "get", "patch", "list"]
    assert all("OpenAPI-Generator" in r.user_agent for r in fake_api.requests)


def test_a_bug_in_the_fake_is_answered_500_and_recorded(fake_api, kube_client, monkeypatch):
    monkeypatch.setattr(fake_api.store, "get", lambda *args, **kwargs: 1 / 0)
    code, body = _error(k8s.CoreV1Api(kube_client).read_namespaced_config_map, "any", NS)
    assert (code, body["reason"]) == (500, "InternalError")
    assert "ZeroDivisionError" in fake_api.errors[0]
    fake_api.errors.clear()  # the fixture fails any test that leaves one


def _reset(sock) -> None:
    """Close with RST (SO_LINGER 0), as a killed client does: the server's next write fails."""
    import socket
    import struct

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_clients_that_disconnect_leave_no_traceback_and_no_error(fake_api, kube_client, capfd):
    """A watch dropped mid-stream, a body cut short and a big list never read are normal client
    behaviour (agents killed with -9): no traceback on stderr, nothing in fake_api.errors."""
    import socket
    import time

    core = k8s.CoreV1Api(kube_client)
    for i in range(200):
        core.create_namespaced_config_map(NS, _cm(f"big-{i}", data={"x": "y" * 2000}))
    host, port = "127.0.0.1", fake_api.port
    requests = [
        b"GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"meta",
        b"GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for request in requests:
        sock = socket.create_connection((host, port))
        sock.sendall(request)
        time.sleep(0.05)
        _reset(sock)
    sock = socket.create_connection((host, port))  # a watch whose client leaves while events flow
    sock.sendall(requests[0])
    sock.recv(100)
    _reset(sock)
    for i in range(20):
        core.patch_namespaced_config_map(f"big-{i}", NS, {"data": {"n": str(i)}})
    time.sleep(0.3)
    assert core.read_namespaced_config_map("big-0", NS).data["n"] == "0"  # still serving
    out, err = capfd.readouterr()
    assert "Traceback" not in err + out and "Error" not in err, err[-3000:]
    assert fake_api.errors == []
