"""helm/pjob/crds/ must be byte-identical to the generated top-level crds/
(`make crds` copies them). Helm installs the chart's crds/ folder; a drift
would install a schema the operator does not expect.
"""

from __future__ import annotations

import pytest
import yaml
from chart_render import CHART, REPO, diff_paths, strict_roundtrip

EXPECTED = ("paralleljobs.pjob.dev.yaml", "pipelinejobs.pjob.dev.yaml")


def _yaml_files(folder):
    return {p.name: p.read_bytes() for p in folder.glob("*.y*ml")} if folder.is_dir() else {}


def test_chart_crds_are_identical_to_generated_crds():
    generated = _yaml_files(REPO / "crds")
    if not all(name in generated for name in EXPECTED):
        pytest.skip("crds/ is not generated yet (the lead's `pjob crds`); then run `make crds`")
    chart = _yaml_files(CHART / "crds")
    assert sorted(chart) == sorted(generated), "run `make crds` to copy crds/ into helm/pjob/crds/"
    for name, data in generated.items():
        assert chart[name] == data, f"helm/pjob/crds/{name} differs from crds/{name}: run `make crds`"


def test_chart_crds_are_crds_of_the_pjob_dev_group():
    chart = _yaml_files(CHART / "crds")
    if not chart:
        pytest.skip("helm/pjob/crds/ is empty until crds/ is generated and copied (`make crds`)")
    for name, data in chart.items():
        doc = yaml.safe_load(data)
        assert doc["kind"] == "CustomResourceDefinition"
        assert doc["spec"]["group"] == "pjob.dev"
        assert name == f"{doc['metadata']['name']}.yaml"


def test_chart_crds_match_the_apiextensions_v1_types():
    """What kubeconform -strict checks on `helm template --include-crds`:
    no field the CustomResourceDefinition API does not know."""
    pytest.importorskip("kubernetes")
    chart = _yaml_files(CHART / "crds")
    if not chart:
        pytest.skip("helm/pjob/crds/ is empty until crds/ is generated and copied (`make crds`)")
    for name, data in chart.items():
        doc = yaml.safe_load(data)
        assert diff_paths(doc, strict_roundtrip(doc, "V1CustomResourceDefinition")) == [], name
