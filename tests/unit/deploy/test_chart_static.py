"""Static checks of helm/pjob that need no Helm: Chart.yaml, every value
documented with a helm-docs ``# --`` comment, every ``.Values`` reference in
the templates defined in values.yaml (and no value left unused), the
locked-down security contexts present in values and pod templates.
"""

from __future__ import annotations

import json
import re

import tomllib
import values_doc
import yaml
from chart_render import CHART, REPO

VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def _template_text() -> str:
    return "\n".join(p.read_text() for p in sorted((CHART / "templates").iterdir()))


def _leaf_paths(tree: dict, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for key, value in tree.items():
        path = prefix + (key,)
        if isinstance(value, dict) and value:
            out |= _leaf_paths(value, path)
        else:
            out.add(path)
    return out


def scan_values(text: str) -> tuple[list[str], list[str]]:
    """(leaf value paths, those without a ``# --`` comment)."""
    docs = values_doc.scan_values(text)
    return [d.path for d in docs], [d.path for d in docs if not d.doc]


def undocumented_values(text: str) -> list[str]:
    return scan_values(text)[1]


def test_chart_yaml_is_helm3_application_chart_versioned_with_the_package():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "pjob"
    assert chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"], (
        "image tag defaults to appVersion: keep it equal to the pjob version"
    )


def test_every_value_has_a_helm_docs_comment():
    text = (CHART / "values.yaml").read_text()
    leaves, missing = scan_values(text)
    assert missing == []
    # the line scanner did not miss a value that YAML sees
    seen = {tuple(p.split(".")) for p in leaves}
    unseen = [p for p in _leaf_paths(_values()) if not any(p[:n] in seen for n in range(1, len(p) + 1))]
    assert unseen == []


def test_scanner_reports_an_undocumented_value():
    text = "a:\n  # -- documented\n  b: 1\n  c: 2\n# plain comment\nd: {}\n"
    assert undocumented_values(text) == ["a.c", "d"]


def test_every_values_reference_in_templates_exists_and_every_value_is_used():
    values = _values()
    refs = {tuple(m.group(1).strip(".").split(".")) for m in VALUES_REF.finditer(_template_text())}
    undefined = []
    for ref in refs:
        node = values
        for key in ref:
            if not isinstance(node, dict) or key not in node:
                undefined.append(".".join(ref))
                break
            node = node[key]
    assert undefined == [], "templates read values that values.yaml does not define"
    unused = [".".join(p) for p in _leaf_paths(values) if not any(p[: len(r)] == r for r in refs)]
    assert unused == [], "values.yaml defines values no template reads"


def test_required_templates_exist():
    names = {p.name for p in (CHART / "templates").iterdir()}
    for required in (
        "_helpers.tpl",
        "NOTES.txt",
        "deployment.yaml",
        "serviceaccount.yaml",
        "rbac.yaml",
        "pvc.yaml",
        "configmap.yaml",
    ):
        assert required in names


def _assert_locked_down(pod: dict, container: dict, where: str) -> None:
    assert pod["runAsNonRoot"] is True, where
    assert pod["runAsUser"] != 0, where
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
    assert container["runAsNonRoot"] is True, where
    assert container["allowPrivilegeEscalation"] is False, where
    assert container["readOnlyRootFilesystem"] is True, where
    assert container["capabilities"] == {"drop": ["ALL"]}, where
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}, where


def test_operator_and_worker_security_context_defaults_are_locked_down():
    values = _values()
    _assert_locked_down(values["operator"]["podSecurityContext"], values["operator"]["securityContext"], "operator")
    _assert_locked_down(values["worker"]["podSecurityContext"], values["worker"]["securityContext"], "worker")


def _block(lines: list[str], start: int) -> list[str]:
    """Lines nested under the key on ``lines[start]`` (deeper indentation)."""
    indent = len(lines[start]) - len(lines[start].lstrip())
    out = []
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent and not line.lstrip().startswith("{{"):
            break
        out.append(line)
    return out


def test_every_pod_template_sets_pod_and_container_security_context():
    """Workload templates (spec.template.spec at 6 spaces): a pod
    securityContext and one per container (containers at 8, fields at 10)."""
    checked = 0
    for path in sorted((CHART / "templates").glob("*.yaml")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.fullmatch(r" {6}(containers|initContainers):", line):
                block = _block(lines, i)
                containers = [x for x in block if re.match(r" {8}- name:", x)]
                secured = [x for x in block if re.fullmatch(r" {10}securityContext:", x)]
                assert containers and len(secured) == len(containers), (
                    f"{path.name}: a container without securityContext"
                )
                assert any(re.fullmatch(r" {6}securityContext:", x) for x in lines), (
                    f"{path.name}: no pod securityContext"
                )
                checked += 1
    assert checked >= 1


def test_values_schema_knows_every_value_and_closes_pjob_owned_objects():
    """values.schema.json (Helm checks it on install/upgrade/template): every
    value has a schema; objects pjob defines (not free-form Kubernetes maps)
    reject unknown keys, so a misspelt --set fails instead of being ignored."""
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(values: dict, node: dict, path: str) -> None:
        assert node.get("type") == "object", path
        props = node.get("properties")
        if props is None:
            return  # free-form map (resources, nodeSelector, ...)
        if node.get("additionalProperties") is False:
            assert set(props) == set(values), f"{path or 'values'}: schema and values.yaml disagree"
        for key, value in values.items():
            assert key in props, f"{path}.{key}: no schema"
            if isinstance(value, dict) and value:
                walk(value, props[key], f"{path}.{key}".lstrip("."))

    walk(_values(), schema, "")
    assert schema["additionalProperties"] is False
    assert schema["properties"]["datastore"]["properties"]["type"]["enum"] == ["pvc", "objectStore"]


def test_chart_readme_values_table_is_in_step_with_values_yaml():
    expected = values_doc.render_readme(
        (CHART / "values.yaml").read_text(), yaml.safe_load((CHART / "Chart.yaml").read_text())
    )
    assert (CHART / "README.md").read_text() == expected, (
        "regenerate: python tests/unit/deploy/values_doc.py > helm/pjob/README.md"
    )
