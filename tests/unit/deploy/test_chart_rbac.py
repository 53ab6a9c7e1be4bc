"""The chart's RBAC against what pjob calls (rbac_needs.py): every needed
verb granted, nothing beyond it (grants == needs, no "*", no Secrets/nodes/
exec), cluster-wide grants only in cluster-wide mode, bindings pointing at
the operator's ServiceAccount, and the worker Role the operator creates
within what the operator itself holds (RBAC forbids granting more).
"""

from __future__ import annotations

import re

import pytest
import rbac_needs
import yaml
from chart_render import CHART, by_kind, grants, objects, render

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def needed(needs: list[rbac_needs.Need]) -> set[Grant]:
    return {(n.group, n.resource, v) for n in needs for v in n.verbs}


def missing(needs: list[rbac_needs.Need], granted: set[Grant]) -> list[str]:
    return [
        f"{n.group or 'core'}/{n.resource} {sorted(n.verbs - {v for g, r, v in granted if (g, r) == (n.group, n.resource)})}: {n.why}"
        for n in needs
        if not {(n.group, n.resource, v) for v in n.verbs} <= granted
    ]


def assert_no_wildcards_or_forbidden(rules: list[dict], where: str) -> None:
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"{where}: wildcard in {field}"
        assert "nonResourceURLs" not in rule, where
    for group, resource, _ in grants(rules):
        assert (group, resource) not in rbac_needs.FORBIDDEN_CLUSTER_WIDE, f"{where}: grants {resource}"
        assert resource != "secrets", f"{where}: the operator never reads Secrets; pods reference them"
        assert resource not in {"clusterroles", "clusterrolebindings"}, where


def _bound_to_operator(binding: dict, role: dict) -> None:
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role["kind"],
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pjob", "namespace": "pjob-system"}]


def test_cluster_wide_mode_grants_exactly_what_the_operator_calls():
    objs = objects(render({}))
    assert by_kind(objs, "Role") == [] and by_kind(objs, "RoleBinding") == []
    (role,) = by_kind(objs, "ClusterRole")
    (binding,) = by_kind(objs, "ClusterRoleBinding")
    _bound_to_operator(binding, role)
    needs = rbac_needs.OPERATOR_NAMESPACED + rbac_needs.OPERATOR_CLUSTER + rbac_needs.OPERATOR_CLUSTER_WIDE_ONLY
    granted = grants(role["rules"])
    assert missing(needs, granted) == []
    assert granted - needed(needs) == set(), "granted beyond what the code calls"
    assert_no_wildcards_or_forbidden(role["rules"], "ClusterRole")


@pytest.mark.parametrize("crd_read", [True, False])
def test_namespaced_mode_grants_roles_per_namespace_and_only_crd_reads_cluster_wide(crd_read):
    watched = ["team-a", "team-b"]
    objs = objects(render({"operator": {"watchNamespaces": watched}, "rbac": {"crdRead": crd_read}}))
    roles = {r["metadata"]["namespace"]: r for r in by_kind(objs, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in by_kind(objs, "RoleBinding")}
    assert sorted(roles) == sorted(bindings) == watched
    for ns in watched:
        _bound_to_operator(bindings[ns], roles[ns])
        granted = grants(roles[ns]["rules"])
        assert missing(rbac_needs.OPERATOR_NAMESPACED, granted) == []
        assert granted == needed(rbac_needs.OPERATOR_NAMESPACED)
        assert_no_wildcards_or_forbidden(roles[ns]["rules"], f"Role in {ns}")
    cluster_roles = by_kind(objs, "ClusterRole")
    if crd_read:
        (reader,) = cluster_roles
        (binding,) = by_kind(objs, "ClusterRoleBinding")
        _bound_to_operator(binding, reader)
        assert grants(reader["rules"]) == needed(rbac_needs.OPERATOR_CLUSTER)
    else:
        assert cluster_roles == [] and by_kind(objs, "ClusterRoleBinding") == []


def test_object_store_mode_still_grants_no_secrets():
    values = {"datastore": {"type": "objectStore", "objectStore": {"url": "s3://b/p", "existingSecret": "creds"}}}
    (role,) = by_kind(objects(render(values)), "ClusterRole")
    assert_no_wildcards_or_forbidden(role["rules"], "ClusterRole (object store)")


def test_rbac_create_false_renders_no_rbac_objects():
    objs = objects(render({"rbac": {"create": False}}))
    assert not [o for o in objs if o["kind"] in {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}]


def _helper_rules(name: str) -> list[dict]:
    """The rules block of a named template in _helpers.tpl, parsed as plain
    YAML (it holds no template actions), so this check runs without Helm."""
    text = (CHART / "templates" / "_helpers.tpl").read_text()
    m = re.search(r'\{\{- define "' + re.escape(name) + r'" -\}\}\n(.*?)\{\{- end \}\}', text, re.S)
    assert m, name
    assert "{{" not in m.group(1)
    return yaml.safe_load(m.group(1))


def test_static_rules_in_helpers_equal_the_needs_table():
    namespaced = _helper_rules("pjob.operatorNamespacedRules")
    assert grants(namespaced) == needed(rbac_needs.OPERATOR_NAMESPACED)
    assert grants(_helper_rules("pjob.crdReadRules")) == needed(rbac_needs.OPERATOR_CLUSTER)
    assert_no_wildcards_or_forbidden(namespaced, "_helpers.tpl")


def test_worker_needs_are_within_the_operators_grants():
    """The operator creates each job's worker Role; the API server refuses a
    Role granting anything its creator lacks (no escalate/bind verbs here)."""
    operator = needed(rbac_needs.OPERATOR_NAMESPACED)
    assert needed(rbac_needs.WORKER) - operator == set()
    assert not {v for _, _, v in operator} & {"escalate", "bind", "impersonate"}


def test_missing_reports_an_ungranted_verb():
    need = [rbac_needs.Need("batch", "jobs", frozenset({"create", "delete"}), "why")]
    assert missing(need, {("batch", "jobs", "create")}) == ["batch/jobs ['delete']: why"]


def _code_rbac():
    return pytest.importorskip("pjob.kube.rbac", reason="pjob.kube.rbac (what the code calls) is not importable")


def test_chart_grants_everything_the_operator_code_declares_it_calls():
    """pjob.kube.rbac.OPERATOR is kept next to the handlers; the chart must
    grant all of it in both modes, and the needs table must cover it."""
    code = _code_rbac()
    declared = {(n.group, n.resource, v) for n in code.OPERATOR for v in n.verbs}
    cluster_scoped = {
        (g, r, v) for g, r, v in declared if (g, r) == ("apiextensions.k8s.io", "customresourcedefinitions")
    }
    (role,) = by_kind(objects(render({})), "ClusterRole")
    assert declared - grants(role["rules"]) == set()
    ns_objs = objects(render({"operator": {"watchNamespaces": ["team-a"]}}))
    (ns_role,) = by_kind(ns_objs, "Role")
    (reader,) = by_kind(ns_objs, "ClusterRole")
    assert (declared - cluster_scoped) - grants(ns_role["rules"]) == set()
    assert cluster_scoped - grants(reader["rules"]) == set()
    table = needed(rbac_needs.OPERATOR_NAMESPACED + rbac_needs.OPERATOR_CLUSTER)
    assert declared - table == set(), "pjob.kube.rbac.OPERATOR grew: add the need to rbac_needs.py and the chart"


def test_worker_role_the_operator_creates_is_within_the_charts_grants():
    """Each job's worker Role is built from pjob.kube.rbac.WORKER; the API
    server refuses it unless the operator holds every permission in it."""
    code = _code_rbac()
    worker = {(n.group, n.resource, v) for n in code.WORKER for v in n.verbs}
    (ns_role,) = by_kind(objects(render({"operator": {"watchNamespaces": ["team-a"]}})), "Role")
    assert worker - grants(ns_role["rules"]) == set()
    assert worker - needed(rbac_needs.WORKER) == set(), "pjob.kube.rbac.WORKER grew: update rbac_needs.WORKER"
