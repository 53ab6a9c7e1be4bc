"""The CI workflow (.github/workflows/ci.yml) and the e2e tier are wired the
way docs/deploy.md says: unit tests, helm lint + kubeconform with the
pjob.dev schemas in the layout crd_jsonschema.py writes, and a kind e2e job
that runs `make e2e` over every required example and cannot pass by
skipping. (GitHub runs the workflow; here it is checked as data.)
"""

from __future__ import annotations

import re

import yaml
from chart_render import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
REQUIRED_EXAMPLES = {"batch-scoring", "file-processing", "many-models", "sdk-pipeline"}


def _jobs() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def _script(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_three_jobs_unit_chart_e2e():
    jobs = _jobs()
    assert set(jobs) == {"unit", "chart", "e2e"}
    assert "make test" in _script(jobs["unit"])
    assert set(jobs["e2e"]["needs"]) == {"unit", "chart"}


def test_chart_job_lints_and_validates_with_the_crd_schemas():
    script = _script(_jobs()["chart"])
    assert "helm lint --strict helm/pjob" in script
    assert "diff -r crds helm/pjob/crds" in script
    assert "python tests/unit/deploy/crd_jsonschema.py crds build/schemas" in script
    assert "pjob operator render" in script and "helm template" in script
    m = re.search(r"-schema-location '([^']+)'", script)
    assert m and m.group(1) == "build/schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
    assert "kubeconform -strict" in script and "-schema-location default" in script


def test_e2e_job_runs_make_e2e_on_kind_and_cannot_pass_by_skipping():
    job = _jobs()["e2e"]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(u.startswith("helm/kind-action@") for u in uses)
    assert any(u.startswith("azure/setup-helm@") for u in uses)
    assert "make e2e" in _script(job)
    assert job["env"]["PJOB_E2E_REQUIRED"] == "1"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^e2e:.*\n\t.*pytest .*-m e2e tests/e2e", makefile, re.M)


def test_e2e_tier_covers_every_required_example_and_documents_itself():
    examples = {p.parent.name for p in (REPO / "examples").glob("*/pipeline.yml")}
    assert REQUIRED_EXAMPLES <= examples
    readme = (REPO / "tests" / "e2e" / "README.md").read_text()
    assert "make e2e" in readme and "PJOB_E2E_KEEP_CLUSTER" in readme
