"""Render the Helm chart in helm/pjob for the deploy tests, with Helm itself.

Rendering uses helm-python-sdk (import name ``helm_python``): a PyPI wheel
that bundles libhelm_c, Helm v4's Go SDK behind a C ABI, so ``render`` and
``lint`` here are the same code as ``helm template`` and ``helm lint``, with
no helm binary and no cluster. When the package is missing the rendering
tests skip (``require_helm``); the static tests in this folder still run.

Also: ``strict_roundtrip`` checks a manifest against the Kubernetes API types
of the official ``kubernetes`` client (unknown or misspelt fields are
dropped by the typed model, so a lossy round trip names them).
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "pjob"

# the ParallelJob whose worker pods the tests build from a rendered config (spec already resolved)
SCORE_CR = {
    "apiVersion": "pjob.dev/v1alpha1",
    "kind": "ParallelJob",
    "metadata": {"name": "score", "namespace": "team-a", "uid": "0000-1111"},
    "spec": {},
}


def score_task(**fields: Any) -> Any:
    """SCORE_CR's resolved task, its paths under the chart's datastore mount /mnt/pjob."""
    task_mod = pytest.importorskip("pjob.engine.task")
    base = dict(
        step="score",
        job="score",
        code_dir="/mnt/pjob/code/score",
        entry_script="score.py",
        argv=[],
        env={},
        input_type="uri_folder",
        input_uri="/mnt/pjob/data",
        mini_batch_size="10",
        partition_keys=None,
        output_dir="/mnt/pjob/runs/score/out",
        append_row_to=None,
        logs_dir="/mnt/pjob/runs/score/logs",
        work_dir="/mnt/pjob/runs/score/work",
    )
    return task_mod.ParallelTask(**{**base, **fields})


def require_helm():
    """Return the helm_python module, or skip the calling test."""
    return pytest.importorskip(
        "helm_python", reason="helm-python-sdk (Helm's Go SDK as a wheel) is not installed: pip install helm-python-sdk"
    )


def render(
    values: dict[str, Any] | None = None, *, name: str = "pjob", namespace: str = "pjob-system"
) -> dict[str, str]:
    """Template path -> rendered text, like ``helm template``."""
    helm = require_helm()
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values or {}, name=name, namespace=namespace, is_install=True)


def objects(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object in the rendered templates (NOTES.txt excluded)."""
    found: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("__template__", path)
                found.append(doc)
    return found


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """RBAC rules expanded to (apiGroup, resource, verb) triples."""
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o.get("kind") == kind]


def operator_config(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (cm,) = [o for o in by_kind(objs, "ConfigMap") if o["metadata"]["name"].endswith("-config")]
    return json.loads(cm["data"]["config.json"])


def strict_roundtrip(obj: Any, model: str) -> Any:
    """Deserialize ``obj`` into kubernetes client model ``model`` (e.g.
    "V1Deployment") and serialize it back. Fields the model does not know are
    dropped, so comparing with the input finds typos and misplaced keys."""
    from kubernetes import client

    api = client.ApiClient()
    # The public deserialize() changed signature across client releases (a
    # response object, then text + content type); the data-level step below
    # it has stayed the same.
    typed = api._ApiClient__deserialize(json.loads(json.dumps(obj)), model)
    return api.sanitize_for_serialization(typed)


def diff_paths(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Paths where ``actual`` lacks or changes something ``expected`` has."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path or "/"]
        out: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}/{key}")
            else:
                out.extend(diff_paths(value, actual[key], f"{path}/{key}"))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [path or "/"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual)):
            out.extend(diff_paths(e, a, f"{path}/{i}"))
        return out
    return [] if expected == actual or str(expected) == str(actual) else [path or "/"]
