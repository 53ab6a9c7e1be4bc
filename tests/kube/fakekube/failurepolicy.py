"""A Job's `podFailurePolicy` evaluated for one failed pod (pure), as the real job controller does.

Rules are tried in order; the first rule whose `onExitCodes` (In/NotIn, optional containerName;
exit code 0 never matches) or `onPodConditions` (type + status, default "True") matches decides
the action: FailJob, FailIndex, Ignore (not counted toward backoffLimit) or Count. No match -> Count.
Preemption and the Eviction API mark pods with the `DisruptionTarget` condition, which is what
`onPodConditions: [{type: DisruptionTarget}]` rules look for.
"""
from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _exit_codes(pod: Obj, container: str | None) -> list[int]:
    codes = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if container and status.get("name") != container:
            continue
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode") not in (None, 0):
            codes.append(terminated["exitCode"])
    return codes


def _has_condition(pod: Obj, kind: str, value: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == value
               for c in (pod.get("status") or {}).get("conditions") or [])


def rule_for(policy: Obj | None, pod: Obj) -> tuple[int, Obj] | None:
    """(index, rule) of the first matching rule, or None."""
    for number, rule in enumerate((policy or {}).get("rules") or []):
        on_codes = rule.get("onExitCodes")
        if on_codes:
            values = set(on_codes.get("values") or [])
            codes = _exit_codes(pod, on_codes.get("containerName"))
            if on_codes.get("operator") == "In" and any(code in values for code in codes):
                return number, rule
            if on_codes.get("operator") == "NotIn" and any(code not in values for code in codes):
                return number, rule
        for pattern in rule.get("onPodConditions") or []:
            if _has_condition(pod, pattern["type"], pattern.get("status", "True")):
                return number, rule
    return None


def action(policy: Obj | None, pod: Obj) -> tuple[str, str]:
    """(action, message) for a failed pod; action is FailJob, FailIndex, Ignore or Count."""
    found = rule_for(policy, pod)
    if found is None:
        return "Count", ""
    number, rule = found
    name = pod["metadata"]["name"]
    return rule["action"], f"Pod {pod['metadata'].get('namespace')}/{name} failed matching the {rule['action']} " \
                           f"rule at index {number} of the podFailurePolicy"
