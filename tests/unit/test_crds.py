"""The CRDs in crds/ are generated from the spec models: no drift, structural,
and they accept what the models accept (and reject what they reject)."""

import os

import jsonschema
import pytest
import yaml
from pjob.spec import crds, load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SEED = os.path.join(ROOT, "tests", "fixtures", "seed", "pipeline.yml")


def test_checked_in_crds_match_a_fresh_generation():
    for name, text in crds.render_all().items():
        path = os.path.join(ROOT, "crds", name)
        assert os.path.exists(path), f"{path} missing: run `make crds`"
        with open(path, encoding="utf-8") as fh:
            assert fh.read() == text, f"{path} is stale: run `make crds`"


def _walk(node, path=""):
    yield path, node
    for key in ("properties",):
        for name, child in (node.get(key) or {}).items():
            yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], path + ".*")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], path + "[]")


@pytest.mark.parametrize("kind", ["ParallelJob", "PipelineJob"])
def test_schema_is_structural(kind):
    crd = crds.build_crd(kind)
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]][:4] == ["Status", "Progress", "Failed", "Age"]
    assert crd["spec"]["names"]["categories"] == ["pjob"]
    schema = version["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        int_or_string = node.get("x-kubernetes-int-or-string")
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields") or int_or_string, (
            f"{kind}{path} has no type"
        )
        if int_or_string:  # the one anyOf structural schemas allow
            assert "type" not in node and [o["type"] for o in node["anyOf"]] == ["integer", "string"]
        for banned in ("anyOf", "oneOf", "$ref", "title", "default", "const"):
            assert banned not in node or (banned == "anyOf" and int_or_string), f"{kind}{path} has {banned}"


def _validator(kind):
    schema = crds.build_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

    def nullable(node):  # OpenAPI nullable -> JSON schema
        if isinstance(node, dict):
            node = {k: nullable(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
            if node.pop("nullable", False) and "type" in node:
                node["type"] = [node["type"], "null"]
            if node.get("exclusiveMinimum") is True:
                node["exclusiveMinimum"] = node.pop("minimum")
            if node.get("exclusiveMaximum") is True:
                node["exclusiveMaximum"] = node.pop("maximum")
        return node

    return jsonschema.Draft7Validator(nullable(schema))


def _seed_step():
    with open(SEED, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["jobs"]["batch_prediction"]


@pytest.mark.parametrize(
    "size,ok", [(10, True), ("10", True), ("10kb", True), (0, False), ("10 kb", False), (True, False)]
)
def test_mini_batch_size_is_int_or_string(size, ok):
    spec = dict(_seed_step(), mini_batch_size=size)
    assert (list(_validator("ParallelJob").iter_errors({"spec": spec})) == []) == ok


def test_seed_step_is_a_valid_paralleljob_spec():
    spec = {k: v for k, v in _seed_step().items() if k != "type"}
    errors = list(
        _validator("ParallelJob").iter_errors({"apiVersion": "pjob.dev/v1alpha1", "kind": "ParallelJob", "spec": spec})
    )
    assert errors == []


def test_seed_pipeline_is_a_valid_pipelinejob_spec():
    with open(SEED, encoding="utf-8") as fh:
        body = {k: v for k, v in yaml.safe_load(fh).items() if not k.startswith("$")}
    assert list(_validator("PipelineJob").iter_errors({"spec": body})) == []


@pytest.mark.parametrize(
    "field,value",
    [
        ("mini_batch_size", "10 kb"),
        ("logging_level", "VERBOSE"),
        ("retry_settings", {"timeout": 0}),
        ("resources", {"instance_count": 0}),
    ],
)
def test_crd_rejects_what_the_model_rejects(field, value):
    spec = dict(_seed_step(), **{field: value})
    assert list(_validator("ParallelJob").iter_errors({"spec": spec})), f"CRD accepted {field}={value!r}"
    problems = load.load_data({"type": "pipeline", "jobs": {"s": spec}}, "x.yml", {}).problems
    assert any(field in p.field for p in problems)
