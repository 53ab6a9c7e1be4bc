"""pjob.kube.ship: which local paths a job ships, how its spec paths are
rewritten, the pods' unpacking of shipped ConfigMaps (``pjob.kube.unpack_cmd``,
the init container: the ConfigMaps mounted as files, as a kubelet does), and uploads to an object store (moto in
server mode, as tests/unit/data does)."""

from __future__ import annotations

import base64
import os

import pytest
from pjob.kube import builders, ship
from pjob.spec import checks, errors

SCRIPT = "def init():\n    pass\n\n\ndef run(mini_batch, ctx):\n    return list(mini_batch)\n"


def write_job(tmp_path, *, data_path: str = "../shared/data", code: str = "./src", big: int = 0):
    project = tmp_path / "project"
    (project / "src" / "__pycache__").mkdir(parents=True)
    (project / "src" / "score.py").write_text(SCRIPT)
    (project / "src" / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"junk")
    (project / "src" / "lib").mkdir()
    (project / "src" / "lib" / "helper.py").write_text("X = 1\n")
    data = tmp_path / "shared" / "data"
    data.mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    if big:
        (data / "big.bin").write_bytes(os.urandom(big))
    job = project / "job.yml"
    job.write_text(f"""\
type: parallel
name: scorer
inputs:
  data: {{type: uri_folder, path: {data_path}}}
outputs:
  out: {{type: uri_folder}}
input_data: ${{{{inputs.data}}}}
mini_batch_size: "1"
task:
  type: run_function
  code: {code}
  entry_script: score.py
  append_row_to: ${{{{outputs.out}}}}
""")
    return checks.load_and_check(str(job)), project, data


def unpack(cr, configmaps, root, mounts) -> list[str]:
    """What the init container does: the CR's shipped ConfigMaps mounted under ``mounts``, then ``pjob unpack``."""
    from pjob.kube import unpack_cmd

    entries = unpack_cmd.shipped_entries(cr)
    if entries is None:
        return ["not a JSON list"]
    by_name = {cm["metadata"]["name"]: cm for cm in configmaps}
    for index, entry in enumerate(entries):
        cm = by_name.get(entry["configMap"])
        if cm is not None:
            (mounts / str(index)).mkdir(parents=True, exist_ok=True)
            (mounts / str(index) / "bundle.tar.gz").write_bytes(base64.b64decode(cm["binaryData"]["bundle.tar.gz"]))
    problems = unpack_cmd.entry_problems(entries, cr["metadata"]["namespace"])
    return problems or unpack_cmd.unpack(entries, str(mounts), str(root))


def cr_with(shipment, loaded, namespace="ns1", name="scorer"):
    import json

    cr = builders.build_job_cr(loaded, namespace=namespace, name=name, base_dir=shipment.base_dir)
    cr["metadata"]["annotations"][ship.ANNOTATION_SHIPPED] = json.dumps(shipment.annotation)
    return cr


def test_a_folder_outside_the_yaml_folder_is_mirrored_and_paths_resolve_against_base_dir(tmp_path):
    loaded, project, data = write_job(tmp_path)
    shipment = ship.plan(loaded, namespace="ns1", name="scorer", datastore=None)
    assert sorted((i.kind, i.rel) for i in shipment.items) == [("code", "project/src"), ("input", "shared/data")]
    assert shipment.base_dir == "runs/ns1/scorer/shipped/project"
    assert [cm["metadata"]["annotations"]["pjob.dev/shipped-path"] for cm in shipment.configmaps] == [
        "project/src",
        "shared/data",
    ]
    assert shipment.uploads == []

    root = tmp_path / "datastore"
    cr = cr_with(shipment, loaded)
    assert unpack(cr, shipment.configmaps, root, tmp_path / "mounts") == []
    shipped = root / "runs" / "ns1" / "scorer" / "shipped"
    assert (shipped / "project" / "src" / "score.py").read_text() == SCRIPT
    assert (shipped / "project" / "src" / "lib" / "helper.py").is_file()
    assert not (shipped / "project" / "src" / "__pycache__").exists()
    assert (shipped / "shared" / "data" / "a.txt").read_text() == "alpha\n"
    # the relative paths the user wrote, read against base-dir, land on the shipped copies
    base = root / shipment.base_dir
    assert os.path.isdir(os.path.normpath(base / "../shared/data")) and (base / "src" / "score.py").is_file()
    # once: the next pod's init container reads no bundle (a marker per ConfigMap)
    assert unpack(cr, [], root, tmp_path / "no-mounts") == []


def test_absolute_local_paths_are_rewritten_relative_to_base_dir(tmp_path):
    loaded, project, data = write_job(
        tmp_path, data_path=str(tmp_path / "shared" / "data"), code=str(tmp_path / "project" / "src")
    )
    shipment = ship.plan(loaded, namespace="ns1", name="scorer", datastore=None)
    cr = builders.build_job_cr(loaded, namespace="ns1", name="scorer", base_dir=shipment.base_dir)
    spec = ship.rewrite_spec(cr["spec"], shipment, loaded.base_dir)
    assert spec["inputs"]["data"]["path"] == "../shared/data"
    assert spec["task"]["code"] == "src"
    assert str(tmp_path) not in str(spec)


def test_packing_is_reproducible(tmp_path):
    loaded, _, _ = write_job(tmp_path)
    first = ship.plan(loaded, namespace="ns1", name="scorer", datastore=None)
    os.utime(tmp_path / "project" / "src" / "score.py", (1, 1))
    again = ship.plan(loaded, namespace="ns1", name="scorer", datastore=None)
    assert first.annotation == again.annotation


def test_too_big_without_a_datastore_is_a_user_error_naming_the_fix(tmp_path):
    loaded, _, data = write_job(tmp_path, big=ship.MAX_CONFIGMAP_BYTES + 1024)
    with pytest.raises(errors.UserError) as caught:
        ship.plan(loaded, namespace="ns1", name="scorer", datastore=None)
    text = str(caught.value.problems[0])
    assert str(data) in text and "--datastore-root" in text


def test_inputs_go_to_a_shared_folder_and_the_code_in_a_configmap(tmp_path):
    loaded, _, _ = write_job(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    shipment = ship.plan(loaded, namespace="ns1", name="scorer", datastore=str(store))
    assert [cm["metadata"]["annotations"]["pjob.dev/shipped-path"] for cm in shipment.configmaps] == ["project/src"]
    ship.upload(shipment)
    assert (store / "runs" / "ns1" / "scorer" / "shipped" / "shared" / "data" / "a.txt").read_text() == "alpha\n"


def test_unpack_refuses_other_namespaces_missing_and_tampered_configmaps(tmp_path):
    loaded, _, _ = write_job(tmp_path)
    shipment = ship.plan(loaded, namespace="ns1", name="scorer", datastore=None)
    cr = cr_with(shipment, loaded)
    cr["metadata"]["namespace"] = "other"  # its annotation points into runs/ns1/
    problems = unpack(cr, shipment.configmaps, tmp_path / "root", tmp_path / "m1")
    assert problems and all("outside runs/other/" in p for p in problems)
    cr = cr_with(shipment, loaded)
    assert "cannot read its bundle" in unpack(cr, [], tmp_path / "root", tmp_path / "m2")[0]
    tampered = [
        dict(
            cm, binaryData={"bundle.tar.gz": base64.b64encode(ship.pack(ship.Item("code", __file__, "x.py"))).decode()}
        )
        for cm in shipment.configmaps
    ]
    assert "sha256 differs" in unpack(cr, tampered, tmp_path / "root", tmp_path / "m3")[0]
    assert not (tmp_path / "root" / "runs" / "ns1" / "scorer" / "shipped" / "project").exists()
    cr["metadata"]["annotations"][ship.ANNOTATION_SHIPPED] = "not json"
    assert "not a JSON list" in unpack(cr, [], tmp_path / "root", tmp_path / "m4")[0]


def test_redact_drops_user_info():
    assert ship.redact("s3://KEY:SECRET@bucket/pjob") == "s3://bucket/pjob"
    assert ship.redact("s3://KEY:SE/CRET@bucket/pjob") == "s3://bucket/pjob"  # an unencoded '/' in the password
    assert ship.redact("s3://bucket/a@b") == "s3://bucket/a@b"
    assert ship.redact("/mnt/pjob") == "/mnt/pjob"


# --- object store ---------------------------------------------------------------------------------


def test_inputs_upload_to_an_object_store_and_the_spec_points_at_them(tmp_path, s3_endpoint, monkeypatch):
    import boto3
    import fsspec.config

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="pjob-ship")
    loaded, _, _ = write_job(tmp_path)
    shipment = ship.plan(loaded, namespace="ns1", name="scorer", datastore="s3://pjob-ship/store")
    ship.upload(shipment)
    key = "store/runs/ns1/scorer/shipped/shared/data/a.txt"
    assert client.get_object(Bucket="pjob-ship", Key=key)["Body"].read() == b"alpha\n"
    cr = builders.build_job_cr(loaded, namespace="ns1", name="scorer", base_dir=shipment.base_dir)
    spec = ship.rewrite_spec(cr["spec"], shipment, loaded.base_dir)
    assert spec["inputs"]["data"]["path"] == "s3://pjob-ship/store/runs/ns1/scorer/shipped/shared/data"
    assert spec["task"]["code"] == "./src"  # code still travels as a ConfigMap
    assert [cm["metadata"]["annotations"]["pjob.dev/shipped-kind"] for cm in shipment.configmaps] == ["code"]
