"""A job's spec cannot be edited after creation: both CRDs carry a CEL
transition rule ``self == oldSelf`` on ``spec`` (the API server answers an
edit with 422 and the message), generated from pjob.spec.crds into crds/ and
the chart's copy. Transition rules need the old object, so creation is
untouched; status writes do not touch spec."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from pjob.spec import crds

REPO = pathlib.Path(__file__).resolve().parents[3]


def _spec_schema(crd: dict) -> dict:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


@pytest.mark.parametrize(
    "kind, plural, short", [("ParallelJob", "paralleljobs", "pj"), ("PipelineJob", "pipelinejobs", "plj")]
)
def test_spec_is_immutable_by_a_cel_rule_in_every_copy_of_the_crd(kind, plural, short):
    copies = {"generated": crds.build_crd(kind)}
    for folder in ("crds", "helm/pjob/crds"):
        copies[folder] = yaml.safe_load((REPO / folder / f"{plural}.pjob.dev.yaml").read_text())
    for where, crd in copies.items():
        rules = _spec_schema(crd).get("x-kubernetes-validations")
        assert rules and len(rules) == 1, f"{where}: no CEL rule on spec"
        rule = rules[0]
        assert rule["rule"] == "self == oldSelf", where
        message = rule["message"]
        # names the object and the field, and the fix
        assert kind in message and "spec is immutable" in message and f"kubectl delete {short}" in message, where
