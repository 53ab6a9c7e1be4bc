"""Object storage through fsspec: a folder of files and an MLTable on s3://,
against a real S3-compatible server (moto in server mode; the s3_endpoint
fixture of tests/conftest.py)."""

from __future__ import annotations

import os
import uuid

import pandas
import pjob.data
import pytest

pytest.importorskip("s3fs")
boto3 = pytest.importorskip("boto3")


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    import fsspec.config

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    # how a user points s3:// at a non-AWS endpoint: fsspec config (or FSSPEC_S3_ENDPOINT_URL)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    name = f"pjob-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    return client, name


def test_folder_of_files_on_s3_is_listed_in_order_and_downloaded(bucket, tmp_path):
    client, name = bucket
    for key in ["in/b/2.txt", "in/a/1.txt", "in/.hidden", "in/c.txt"]:
        client.put_object(Bucket=name, Key=key, Body=key.encode())
    plan = pjob.data.plan("uri_folder", f"s3://{name}/in", "2", None)
    flat = [p for mb in plan.mini_batches for p in mb.paths]
    assert flat == [f"s3://{name}/in/a/1.txt", f"s3://{name}/in/b/2.txt", f"s3://{name}/in/c.txt"]
    local = pjob.data.read_mini_batch(plan.mini_batches[0], str(tmp_path))
    assert [open(p).read() for p in local] == ["in/a/1.txt", "in/b/2.txt"]
    assert all(p.startswith(str(tmp_path)) for p in local)


def test_mltable_on_s3_through_a_datastore_uri(bucket):
    client, name = bucket
    rows = "".join(f"{i},name {i}\n" for i in range(400))
    client.put_object(Bucket=name, Key="t/data/a.csv", Body=("n,s\n" + rows).encode())
    client.put_object(Bucket=name, Key="t/data/notes.txt", Body=b"not a table")
    client.put_object(
        Bucket=name,
        Key="t/MLTable",
        Body=b"paths:\n  - pattern: ./data/*.csv\ntransformations:\n  - read_delimited: {include_path_column: true}\n",
    )
    stores = {"lake": f"s3://{name}"}
    plan = pjob.data.plan("mltable", "azureml://datastores/lake/paths/t", "1kb", None, datastores=stores)
    assert plan.kind == "table" and len(plan.mini_batches) > 3
    parts = [pjob.data.read_mini_batch(mb, "/tmp") for mb in plan.mini_batches]
    whole = pjob.data.read_table("mltable", "azureml://datastores/lake/paths/t", datastores=stores)
    assert pandas.concat(parts, ignore_index=True).equals(whole)
    assert whole["n"].tolist() == list(range(400)) and set(whole["Path"]) == {f"s3://{name}/t/data/a.csv"}
