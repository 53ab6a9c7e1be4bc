"""What kubeconform checks in CI, done here without it: every example run
through the real `pjob operator render` (the operator's own builders,
offline) gives custom resources that validate against the JSON Schemas
converted from crds/ (crd_jsonschema.py, the same files CI feeds to
kubeconform), and children (Jobs, ConfigMaps, RBAC) that match the
Kubernetes API types; with the chart's config.json, every worker and
command-step pod passes Pod Security "restricted" (pod_security.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import crd_jsonschema
import pod_security
import pytest
import yaml
from chart_render import REPO, diff_paths, objects, operator_config, render, strict_roundtrip

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")

EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/pipeline.yml"))
MODELS = {
    "Job": "V1Job",
    "ConfigMap": "V1ConfigMap",
    "ServiceAccount": "V1ServiceAccount",
    "Role": "V1Role",
    "RoleBinding": "V1RoleBinding",
}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory):
    out = tmp_path_factory.mktemp("schemas")
    written = crd_jsonschema.convert(REPO / "crds", out)
    if not written:
        pytest.skip("crds/ holds no CRDs yet")
    return {str(p.relative_to(out)): json.loads(p.read_text()) for p in written}


def _schema_for(schemas: dict, obj: dict) -> dict:
    group, version = obj["apiVersion"].split("/")
    return schemas[f"{group}/{obj['kind'].lower()}_{version}.json"]


def test_converter_writes_kubeconform_file_names(schemas):
    assert sorted(schemas) == ["pjob.dev/paralleljob_v1alpha1.json", "pjob.dev/pipelinejob_v1alpha1.json"]


def test_schema_rejects_unknown_spec_fields_and_wrong_kinds(schemas):
    schema = _schema_for(schemas, {"apiVersion": "pjob.dev/v1alpha1", "kind": "ParallelJob"})
    good = {
        "apiVersion": "pjob.dev/v1alpha1",
        "kind": "ParallelJob",
        "metadata": {"name": "x"},
        "spec": {"mini_batch_size": "1"},
    }
    bad_field = {**good, "spec": {"mini_batch_sise": "1"}}
    bad_kind = {**good, "kind": "PipelineJob"}
    errors = lambda obj: list(jsonschema.Draft7Validator(schema).iter_errors(obj))  # noqa: E731
    assert not [e for e in errors(good) if "mini_batch" in str(e.path) or e.validator == "additionalProperties"]
    assert any(e.validator == "additionalProperties" for e in errors(bad_field))
    assert any(e.validator == "enum" for e in errors(bad_kind))


def test_a_field_named_properties_stays_a_field():
    node = {
        "type": "object",
        "properties": {
            "properties": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "n": {"type": "integer", "nullable": True},
        },
    }
    converted = crd_jsonschema.to_jsonschema(node)
    assert set(converted["properties"]) == {"properties", "n"}
    assert converted["additionalProperties"] is False
    assert "additionalProperties" not in converted["properties"]["properties"]
    assert converted["properties"]["n"]["type"] == ["integer", "null"]


@pytest.fixture(scope="module")
def chart_config_env(tmp_path_factory):
    """Environment for `pjob operator render` with the config.json the chart
    renders by default (skips without Helm: then the operator's built-in
    defaults, which equal the chart's, are used)."""
    try:
        config = operator_config(objects(render({})))
    except pytest.skip.Exception:
        return dict(os.environ)
    path = tmp_path_factory.mktemp("config") / "config.json"
    path.write_text(json.dumps(config))
    return {**os.environ, "PJOB_CONFIG_FILE": str(path)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_operator_render_of_each_example_validates(schemas, chart_config_env, example):
    yml = REPO / "examples" / example / "pipeline.yml"
    done = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "operator", "render", str(yml), "-n", "team-a"],
        capture_output=True,
        text=True,
        timeout=120,
        env=chart_config_env,
    )
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    kinds = [d["kind"] for d in docs]
    assert "Job" in kinds and ({"ParallelJob", "PipelineJob"} & set(kinds))
    for doc in docs:
        where = f"{example}: {doc['kind']} {doc['metadata'].get('name')}"
        if doc["apiVersion"].startswith("pjob.dev/"):
            errors = sorted(jsonschema.Draft7Validator(_schema_for(schemas, doc)).iter_errors(doc), key=str)
            assert errors == [], f"{where}: {errors[0].message} at {list(errors[0].path)}"
            continue
        assert doc["kind"] in MODELS, where
        assert diff_paths(doc, strict_roundtrip(doc, MODELS[doc["kind"]])) == [], where
        if doc["kind"] == "Job":
            pod = doc["spec"]["template"]["spec"]
            assert pod_security.restricted_violations(pod) == [], where
            for c in pod["containers"]:
                assert c["securityContext"]["readOnlyRootFilesystem"] is True, where
