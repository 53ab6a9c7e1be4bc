"""Authentication and RBAC authorization of the fake API server (pure, given the stored objects).

Tokens: `fakekube-sa:<namespace>:<name>` is that ServiceAccount (user
`system:serviceaccount:<ns>:<name>`, groups `system:serviceaccounts`, `system:serviceaccounts:<ns>`,
`system:authenticated`); any other token, or none, is the cluster admin. The fake kubelet gives each
pod a kubeconfig with its ServiceAccount's token, like the token a real pod gets mounted.

When the server enforces RBAC (`FakeApiServer.enforce_rbac = True`), a ServiceAccount's request is
allowed only by a rule of a Role (via a RoleBinding in the request's namespace) or a ClusterRole
(via a RoleBinding there, or a ClusterRoleBinding), matching apiGroups, resources (`plural`,
`plural/subresource`, `*`, `*/sub`, `plural/*`), verbs and resourceNames, as the real authorizer
does; otherwise 403 Forbidden with the real message. Discovery paths are open to everyone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Obj = dict[str, Any]
SA_TOKEN_PREFIX = "fakekube-sa:"
ADMIN = "kubernetes-admin"

# (apiVersion, plural, namespace or None) -> objects
Lister = Callable[[str, str, str | None], list[Obj]]


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    service_account: tuple[str, str] | None = None  # (namespace, name)

    @property
    def is_admin(self) -> bool:
        return self.service_account is None


def service_account_token(namespace: str, name: str) -> str:
    return f"{SA_TOKEN_PREFIX}{namespace}:{name}"


def identify(authorization: str | None) -> User:
    token = (authorization or "").removeprefix("Bearer ").strip()
    if token.startswith(SA_TOKEN_PREFIX):
        namespace, _, name = token[len(SA_TOKEN_PREFIX):].partition(":")
        return User(f"system:serviceaccount:{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
                    (namespace, name))
    return User(ADMIN, ("system:masters", "system:authenticated"))


def _subject_matches(subject: Obj, user: User, binding_namespace: str | None) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount" and user.service_account is not None:
        return (subject.get("namespace") or binding_namespace, subject.get("name")) == user.service_account
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    return False


def rule_allows(rule: Obj, verb: str, group: str, resource: str, subresource: str | None, name: str | None) -> bool:
    if not ({"*", verb} & set(rule.get("verbs") or [])):
        return False
    if not ({"*", group} & set(rule.get("apiGroups") or [])):
        return False
    wanted = f"{resource}/{subresource}" if subresource else resource
    resources = set(rule.get("resources") or [])
    allowed = "*" in resources or wanted in resources or (
        subresource is not None and (f"*/{subresource}" in resources or f"{resource}/*" in resources))
    if not allowed:
        return False
    names = rule.get("resourceNames") or []
    return not names or (name is not None and name in names)


def _rules(lister: Lister, ref: Obj, namespace: str | None) -> list[Obj]:
    if ref.get("kind") == "ClusterRole":
        roles = [r for r in lister("rbac.authorization.k8s.io/v1", "clusterroles", None)
                 if r["metadata"]["name"] == ref.get("name")]
    else:
        roles = [r for r in lister("rbac.authorization.k8s.io/v1", "roles", namespace)
                 if r["metadata"]["name"] == ref.get("name")]
    return [rule for role in roles for rule in role.get("rules") or []]


def allowed(lister: Lister, user: User, verb: str, group: str, resource: str, subresource: str | None,
            namespace: str | None, name: str | None) -> bool:
    if user.is_admin:
        return True
    bindings: list[tuple[Obj, str | None]] = [
        (b, None) for b in lister("rbac.authorization.k8s.io/v1", "clusterrolebindings", None)]
    if namespace:
        bindings += [(b, namespace) for b in lister("rbac.authorization.k8s.io/v1", "rolebindings", namespace)]
    for binding, binding_namespace in bindings:
        if not any(_subject_matches(s, user, binding_namespace) for s in binding.get("subjects") or []):
            continue
        for rule in _rules(lister, binding.get("roleRef") or {}, binding_namespace):
            if rule_allows(rule, verb, group, resource, subresource, name):
                return True
    return False


def forbidden_message(user: User, verb: str, group: str, resource: str, subresource: str | None,
                      namespace: str | None, name: str | None) -> str:
    what = f'{resource} "{name}"' if name else resource
    target = f"resource \"{resource}/{subresource}\"" if subresource else f'resource "{resource}"'
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return f'{what} is forbidden: User "{user.name}" cannot {verb} {target} in API group "{group}"{where}'
