"""`pjob submit --dry-run` (real CLI subprocesses) on every example and the
seed fixture: the CR validates against the JSON Schema converted from crds/,
the shipped ConfigMaps hold exactly the job's code and inputs, nothing is
contacted or written, and no credential is printed."""

from __future__ import annotations

import base64
import io
import json
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "unit" / "deploy"))
import crd_jsonschema  # noqa: E402

jsonschema = pytest.importorskip("jsonschema")

JOBS = sorted(str(p.relative_to(REPO)) for p in (REPO / "examples").glob("*/pipeline.yml")) + [
    "tests/fixtures/seed/pipeline.yml"
]
SECRET = "aws-secret-that-must-not-print/XYZ"


@pytest.fixture(scope="module")
def schemas(tmp_path_factory):
    out = tmp_path_factory.mktemp("schemas")
    written = crd_jsonschema.convert(REPO / "crds", out)
    return {str(p.relative_to(out)): json.loads(p.read_text()) for p in written}


def dry_run(job: str, tmp_path: pathlib.Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"), "AWS_SECRET_ACCESS_KEY": SECRET}
    env.pop("PJOB_DATASTORE_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "pjob.cli", "submit", str(REPO / job), "--dry-run", "-n", "team-a", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )


def bundle_names(cm: dict) -> list[str]:
    blob = base64.b64decode(cm["binaryData"]["bundle.tar.gz"])
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


@pytest.mark.parametrize("job", JOBS)
def test_dry_run_prints_a_valid_cr_and_its_shipped_code(job, schemas, tmp_path):
    done = dry_run(job, tmp_path)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written (and no cluster: the kubeconfig does not exist)
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    cr, configmaps = docs[0], docs[1:]
    assert cr["apiVersion"] == "pjob.dev/v1alpha1" and cr["kind"] in ("ParallelJob", "PipelineJob")
    schema = schemas[f"pjob.dev/{cr['kind'].lower()}_v1alpha1.json"]
    problems = sorted(jsonschema.Draft7Validator(schema).iter_errors(cr), key=str)
    assert not problems, [p.message for p in problems]
    name = cr["metadata"]["name"]
    assert cr["metadata"]["namespace"] == "team-a"
    assert cr["metadata"]["annotations"]["pjob.dev/base-dir"] == f"runs/team-a/{name}/shipped"
    listed = json.loads(cr["metadata"]["annotations"]["pjob.dev/shipped"])
    assert [e["configMap"] for e in listed] == [cm["metadata"]["name"] for cm in configmaps]
    assert all(cm["kind"] == "ConfigMap" and cm["immutable"] for cm in configmaps)
    # every code folder the job names travels, file for file (the spec keeps its relative paths)
    folder = (REPO / job).parent
    spec_text = json.dumps(cr["spec"])
    for cm in configmaps:
        rel = cm["metadata"]["annotations"]["pjob.dev/shipped-path"]
        assert f"./{rel}" in spec_text
        if (folder / rel).is_file():  # a single file (a conda file) travels as itself
            expected = [rel]
        else:
            expected = sorted(
                str(p.relative_to(folder)).replace(os.sep, "/")
                for p in (folder / rel).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            )
        assert bundle_names(cm) == expected
    kinds = {cm["metadata"]["annotations"]["pjob.dev/shipped-kind"] for cm in configmaps}
    assert "code" in kinds


def test_dry_run_with_a_datastore_folder_lists_the_uploads(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    done = dry_run("examples/file-processing/pipeline.yml", tmp_path, "--datastore-root", str(store), "--name", "fp")
    assert done.returncode == 0, done.stderr
    assert (
        f"# upload input {REPO / 'examples' / 'file-processing' / 'docs'} -> {store}/runs/team-a/fp/shipped/docs"
        in done.stdout
    )
    listed = [line[4:] for line in done.stdout.splitlines() if line.startswith("#   ")]
    docs_folder = REPO / "examples" / "file-processing" / "docs"
    assert listed == sorted(
        str(p.relative_to(docs_folder)).replace(os.sep, "/") for p in docs_folder.rglob("*") if p.is_file()
    )
    assert list(store.iterdir()) == []  # listed, not written
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert [d["kind"] for d in docs] == ["PipelineJob", "ConfigMap"]  # only the code travels in a ConfigMap


def test_bad_input_exits_2_with_the_file_named(tmp_path):
    job = tmp_path / "job.yml"
    job.write_text("type: parallel\ninput_data: x\ntask: {code: ./missing, entry_script: s.py}\n")
    done = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "submit", str(job), "--dry-run"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and str(job) in done.stderr and "Traceback" not in done.stderr
    missing_store = subprocess.run(
        [
            sys.executable,
            "-m",
            "pjob.cli",
            "submit",
            str(REPO / JOBS[0]),
            "--dry-run",
            "--datastore-root",
            str(tmp_path / "nope"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing_store.returncode == 2 and "--datastore-root" in missing_store.stderr


def test_sdk_submit_goes_through_submit_loaded(schemas, tmp_path):
    """pjob.sdk's submit(job, namespace=..., **kw) hands the built pipeline to client_cmd.submit_loaded."""
    script = (
        "import io, sys; import pipeline; from pjob.sdk import client; out = io.StringIO(); "
        "cr = client.submit(pipeline.pipeline_job, namespace='ns-sdk', name='sdk-job', dry_run=True, out=out); "
        "sys.stdout.write('=====\\n' + out.getvalue())"
    )
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=REPO / "examples" / "sdk-pipeline",
    )
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout.split("=====\n", 1)[1]) if d]
    cr = docs[0]
    assert (cr["kind"], cr["metadata"]["name"], cr["metadata"]["namespace"]) == ("PipelineJob", "sdk-job", "ns-sdk")
    assert not list(jsonschema.Draft7Validator(schemas["pjob.dev/pipelinejob_v1alpha1.json"]).iter_errors(cr))
    shipped = sorted(d["metadata"]["annotations"]["pjob.dev/shipped-path"] for d in docs[1:])
    assert shipped == ["dataset", "model", "src"]
