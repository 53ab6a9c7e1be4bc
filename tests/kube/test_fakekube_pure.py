"""Table-driven tests of fakekube's pure parts: patch flavours, selectors, routes, index ranges,
schema pruning and the job controller's decisions."""
from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from fakekube import errors, jobcontroller, patches, routes, schema, selectors


@pytest.mark.parametrize("target, patch, expected", [
    ({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}, {"a": 1, "b": {"d": 3}}),
    ({"l": [1, 2]}, {"l": [3]}, {"l": [3]}),
    ({"a": 1}, {"a": {"x": 1}}, {"a": {"x": 1}}),
])
def test_merge_patch(target, patch, expected):
    assert patches.merge_patch(target, patch) == expected


@pytest.mark.parametrize("target, patch, expected", [
    ({"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]},
     {"containers": [{"name": "b", "image": "3"}]},
     {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "3"}]}),
    ({"containers": [{"name": "a"}, {"name": "b"}]}, {"containers": [{"name": "a", "$patch": "delete"}]},
     {"containers": [{"name": "b"}]}),
    ({"metadata": {"finalizers": ["x"]}}, {"metadata": {"finalizers": ["y"]}}, {"metadata": {"finalizers": ["x", "y"]}}),
    ({"metadata": {"finalizers": ["x", "y"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}},
     {"metadata": {"finalizers": ["y"]}}),
    ({"args": ["a", "b"]}, {"args": ["c"]}, {"args": ["c"]}),
])
def test_strategic_merge_patch(target, patch, expected):
    assert patches.strategic_merge_patch(target, patch) == expected


def test_json_patch_operations_and_failures():
    doc = {"a": {"b": [1, 2]}, "x~y": 1}
    ops = [{"op": "add", "path": "/a/b/-", "value": 3}, {"op": "remove", "path": "/a/b/0"},
           {"op": "copy", "from": "/a/b", "path": "/c"}, {"op": "move", "from": "/x~0y", "path": "/z"},
           {"op": "replace", "path": "/a/b/1", "value": 9}, {"op": "test", "path": "/z", "value": 1}]
    assert patches.json_patch(doc, ops) == {"a": {"b": [2, 9]}, "c": [2, 3], "z": 1}
    assert doc == {"a": {"b": [1, 2]}, "x~y": 1}  # input untouched
    with pytest.raises(patches.PatchError) as failed:
        patches.json_patch(doc, [{"op": "test", "path": "/a/b/0", "value": 5}])
    assert failed.value.code == 422
    with pytest.raises(patches.PatchError):
        patches.json_patch(doc, [{"op": "remove", "path": "/missing"}])
    with pytest.raises(patches.PatchError) as not_a_list:
        patches.json_patch(doc, {"op": "add"})
    assert not_a_list.value.code == 400


@pytest.mark.parametrize("selector, labels, matches", [
    ("a=1", {"a": "1"}, True), ("a=1", {"a": "2"}, False), ("a!=1", {}, True),
    ("a in (1,2),b", {"a": "2", "b": ""}, True), ("a notin (1)", {"a": "1"}, False),
    ("!a", {"b": "1"}, True), ("a", {}, False), ("", {"any": "thing"}, True),
])
def test_label_selectors(selector, labels, matches):
    obj = {"metadata": {"labels": labels}}
    assert selectors.labels_match(selectors.parse_label_selector(selector), obj) is matches


def test_bad_selector_is_a_400():
    with pytest.raises(errors.ApiError) as caught:
        selectors.parse_label_selector("a in b")
    assert caught.value.code == 400


@pytest.mark.parametrize("method, url, expected", [
    ("GET", "/api/v1/namespaces/ns/pods?watch=true", ("watch", "", "pods", "ns", None, None)),
    ("GET", "/api/v1/namespaces/ns", ("get", "", "namespaces", None, "ns", None)),
    ("PUT", "/api/v1/namespaces/ns/status", ("update", "", "namespaces", None, "ns", "status")),
    ("PATCH", "/apis/pjob.dev/v1alpha1/namespaces/a/paralleljobs/j/status",
     ("patch", "pjob.dev", "paralleljobs", "a", "j", "status")),
    ("GET", "/apis/pjob.dev/v1alpha1/paralleljobs", ("list", "pjob.dev", "paralleljobs", None, None, None)),
    ("DELETE", "/api/v1/namespaces/a/configmaps", ("deletecollection", "", "configmaps", "a", None, None)),
])
def test_routes(method, url, expected):
    route = routes.parse(method, url)
    assert (route.verb, route.group, route.plural, route.namespace, route.name, route.subresource) == expected


@pytest.mark.parametrize("indexes, text", [(set(), ""), ({0, 1, 2}, "0-2"), ({0, 2, 3, 7}, "0,2-3,7")])
def test_index_ranges_round_trip(indexes, text):
    assert jobcontroller.format_indexes(indexes) == text
    assert jobcontroller.parse_indexes(text) == indexes


def test_schema_pruning():
    spec_schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"keep": {"type": "string"}, "maybe": {"type": "string", "nullable": True},
                                                  "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                                  "map": {"type": "object", "additionalProperties": {"type": "string"}},
                                                  "list": {"type": "array", "items": {"type": "object", "properties": {
                                                      "n": {"type": "integer"}}}},
                                                  "empty": {"type": "object"}}}}}
    obj = {"apiVersion": "g/v", "kind": "K", "metadata": {"name": "x"}, "spec": {
        "keep": "a", "drop": 1, "maybe": None, "free": {"any": {"thing": 1}}, "map": {"k": "v"},
        "list": [{"n": 1, "m": 2}], "empty": {"gone": 1}, "nulled": None}}
    assert schema.prune(obj, spec_schema, root=True) == {
        "apiVersion": "g/v", "kind": "K", "metadata": {"name": "x"}, "spec": {
            "keep": "a", "maybe": None, "free": {"any": {"thing": 1}}, "map": {"k": "v"}, "list": [{"n": 1}],
            "empty": {}}}


def _job(**spec):
    base = {"completionMode": "Indexed", "completions": 3, "parallelism": 2, "backoffLimit": 1,
            "template": {"metadata": {"labels": {"job-name": "j"}},
                         "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}
    return {"metadata": {"name": "j", "namespace": "ns", "uid": "u1"}, "spec": {**base, **spec}, "status": {}}


def _pod(index, phase, finalizer=True):
    pod = jobcontroller.build_pod(_job(), index)
    pod["metadata"]["uid"] = f"p{index}{phase}"
    if not finalizer:
        pod["metadata"]["finalizers"] = []
    pod["status"] = {"phase": phase}
    return pod


NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def test_plan_creates_pods_up_to_parallelism_with_index_env_and_owner():
    plan = jobcontroller.plan_job(_job(), [], NOW, {})
    assert [jobcontroller.pod_index(p) for p in plan.create] == [0, 1]
    pod = plan.create[0]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u1" and pod["spec"]["hostname"] == "j-0"
    assert pod["metadata"]["finalizers"] == [jobcontroller.TRACKING_FINALIZER]
    assert {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}} in \
        pod["spec"]["containers"][0]["env"]
    assert plan.status["active"] == 2 and plan.status["startTime"] == "2026-01-01T00:00:00Z"


def test_plan_counts_terminated_pods_once_and_retries_failures():
    pods = [_pod(0, "Succeeded"), _pod(1, "Failed"), _pod(2, "Running")]
    plan = jobcontroller.plan_job(_job(), pods, NOW, {})
    assert sorted(plan.counted) == sorted(p["metadata"]["name"] for p in pods[:2])
    assert plan.status["completedIndexes"] == "0" and plan.status["failed"] == 1
    assert [jobcontroller.pod_index(p) for p in plan.create] == [1]
    counted = [_pod(0, "Succeeded", finalizer=False), _pod(1, "Failed", finalizer=False), _pod(2, "Running")]
    job = _job()
    job["status"] = plan.status
    again = jobcontroller.plan_job(job, counted, NOW, plan.index_failures)
    assert again.counted == [] and again.status["failed"] == 1


def test_plan_fails_the_job_past_the_backoff_limit_and_deletes_active_pods():
    job = _job()
    job["status"] = {"failed": 1}
    running = _pod(2, "Running")
    plan = jobcontroller.plan_job(job, [_pod(1, "Failed"), running], NOW, {})
    assert plan.status["conditions"][-1]["reason"] == "BackoffLimitExceeded"
    assert plan.delete == [running["metadata"]["name"]]
    assert plan.create == []


def test_plan_respects_suspend():
    plan = jobcontroller.plan_job(_job(suspend=True), [_pod(0, "Running")], NOW, {})
    assert plan.create == [] and len(plan.delete) == 1
    assert plan.status["conditions"][0]["type"] == "Suspended"


def test_dollar_var_expansion_like_the_kubelet():
    from fakekube import podenv

    env = {"A": "x", "B": "y"}
    assert podenv.expand("$(A)-$(B)/$(C)/$$(A)", env) == "x-y/$(C)/$(A)"


def test_mount_paths_are_rewritten_as_whole_path_prefixes(tmp_path):
    from fakekube import podenv

    mounts = [("/mnt/data", tmp_path / "data"), ("/mnt/data/code", tmp_path / "code")]
    assert podenv.rewrite_paths("--in=/mnt/data/x.csv", mounts) == f"--in={tmp_path / 'data'}/x.csv"
    assert podenv.rewrite_paths("/mnt/data/code/score.py", mounts) == f"{tmp_path / 'code'}/score.py"
    assert podenv.rewrite_paths("/mnt/database /x/mnt/data", mounts) == "/mnt/database /x/mnt/data"
    nested = [("/work", tmp_path / "work"), ("/tmp", tmp_path / "tmp")]  # tmp_path itself lies under /tmp
    assert str(tmp_path).startswith("/tmp/")
    assert podenv.rewrite_paths("/work/a:/tmp/b", nested) == f"{tmp_path / 'work'}/a:{tmp_path / 'tmp'}/b"
    assert podenv.rewrite_paths(f"--out={tmp_path}/x.txt", nested) == f"--out={tmp_path}/x.txt"  # an existing host path
    # longest mount first, in one pass: the host folder substituted for /data/cache (it contains "/data"
    # and "/cache") is never rewritten again by the shorter /data or /cache mounts
    overlapping = [("/data", Path("/host/data")), ("/data/cache", Path("/srv/data/cache")), ("/cache", Path("/c"))]
    assert podenv.rewrite_paths("--cache /data/cache/pip --in /data/x /cache", overlapping) == \
        "--cache /srv/data/cache/pip --in /host/data/x /c"


def test_env_resolution_from_fields_configmaps_and_secrets():
    import base64

    from fakekube import podenv

    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "a"}},
           "spec": {"nodeName": "n"}}
    store = {("configmaps", "cfg"): {"data": {"k": "v", "other": "o"}},
             ("secrets", "sec"): {"data": {"pw": base64.b64encode(b"hunter2").decode()}}}
    lookup = lambda kind, ns, name: store.get((kind, name))  # noqa: E731
    container = {"envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}], "env": [
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
        {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "x", "optional": True}}},
        {"name": "BOTH", "value": "$(NAME)@$(APP)"}]}
    assert podenv.resolve_env(pod, container, lookup) == {
        "CFG_k": "v", "CFG_other": "o", "NAME": "p", "APP": "a", "PW": "hunter2", "BOTH": "p@a"}
    with pytest.raises(podenv.PodStartError) as waiting:
        podenv.resolve_env(pod, {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]},
                           lookup)
    assert waiting.value.retry
