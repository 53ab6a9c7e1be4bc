"""File inputs: listing order, hidden files, planning by count, URIs, materialising."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pjob.data
import pytest
from pjob.data import files, minibatch
from pjob.spec import errors


def rels(paths, root):
    return [os.path.relpath(p, root).replace(os.sep, "/") for p in paths]


def test_listing_is_lexicographic_by_relative_path_and_skips_hidden(tree):
    listed = files.list_files(str(tree))
    # "a.txt" < "a/..." because '.' sorts before '/'; upper case before lower case
    assert rels(listed, tree) == ["A.txt", "a.txt", "a/_ok.txt", "a/b/c.txt", "a/z.txt", "b.txt"]


def test_plan_by_count_keeps_order_and_counts(tmp_path, write):
    for i in range(25):
        write(tmp_path / "in", f"f{i:03d}.txt")
    plan = pjob.data.plan("uri_folder", str(tmp_path / "in"), "10", None)
    assert plan.kind == "files" and plan.items == 25
    assert [mb.items for mb in plan.mini_batches] == [10, 10, 5]
    assert [mb.index for mb in plan.mini_batches] == [0, 1, 2]
    flat = [p for mb in plan.mini_batches for p in mb.paths]
    assert rels(flat, tmp_path / "in") == [f"f{i:03d}.txt" for i in range(25)]


def test_default_is_ten_files_and_int_size_is_accepted(tmp_path, write):
    for i in range(21):
        write(tmp_path / "in", f"{i:02d}")
    assert [mb.items for mb in pjob.data.plan("uri_folder", str(tmp_path / "in"), None, None).mini_batches] == [
        10,
        10,
        1,
    ]
    assert len(pjob.data.plan("uri_folder", str(tmp_path / "in"), 7, None).mini_batches) == 3


@pytest.mark.parametrize("size", ["0", "ten", "10 mb", "-1", "1.5", "10tb", ""])
def test_bad_mini_batch_size_names_the_field(tmp_path, size, write):
    write(tmp_path / "in", "a")
    with pytest.raises(errors.UserError) as exc:
        pjob.data.plan("uri_folder", str(tmp_path / "in"), size, None)
    assert exc.value.problems[0].field == "mini_batch_size"


def test_byte_size_on_a_file_list_is_rejected(tmp_path, write):
    write(tmp_path / "in", "a")
    with pytest.raises(errors.UserError, match="plain number of files") as exc:
        pjob.data.plan("uri_folder", str(tmp_path / "in"), "10mb", None)
    assert exc.value.problems[0].field == "mini_batch_size"


def test_uri_file_is_one_mini_batch_and_folder_as_uri_file_is_an_error(tmp_path, write):
    path = write(tmp_path, "one.csv", "a\n1\n")
    plan = pjob.data.plan("uri_file", path, None, None)
    assert [mb.paths for mb in plan.mini_batches] == [[path]]
    with pytest.raises(errors.UserError, match="uri_folder"):
        pjob.data.plan("uri_file", str(tmp_path), None, None)


def test_missing_input_and_bad_type_are_user_errors(tmp_path):
    with pytest.raises(errors.UserError, match="does not exist"):
        pjob.data.plan("uri_folder", str(tmp_path / "nope"), None, None)
    with pytest.raises(errors.UserError, match="not supported") as exc:
        pjob.data.plan("uri_table", str(tmp_path), None, None)
    assert exc.value.problems[0].field == "type"


def test_partition_keys_on_files_is_a_user_error(tree):
    with pytest.raises(errors.UserError) as exc:
        pjob.data.plan("uri_folder", str(tree), None, ["a"])
    assert exc.value.problems[0].field == "partition_keys"


def test_empty_folder_plans_zero_mini_batches(tmp_path):
    (tmp_path / "empty").mkdir()
    plan = pjob.data.plan("uri_folder", str(tmp_path / "empty"), None, None)
    assert plan.items == 0 and plan.mini_batches == []


def test_file_uri_and_relative_paths(tmp_path, monkeypatch, write):
    path = write(tmp_path, "d/x.txt")
    assert pjob.data.resolve_uri(f"file://{path}", None) == path
    monkeypatch.chdir(tmp_path)
    assert pjob.data.resolve_uri("d/x.txt", None) == path
    assert pjob.data.resolve_uri("file:d/x.txt", None) == path
    assert [
        mb.paths for mb in pjob.data.plan("uri_folder", "file://" + str(tmp_path / "d"), None, None).mini_batches
    ] == [[path]]


def test_datastore_uris_resolve_against_the_mapping(tmp_path, monkeypatch):
    stores = {"default": str(tmp_path / "ds" / "default"), "lake": "s3://bucket/prefix"}
    assert pjob.data.resolve_uri("azureml://datastores/default/paths/in/x/", stores) == str(
        tmp_path / "ds" / "default" / "in" / "x"
    )
    assert pjob.data.resolve_uri("azureml://datastores/lake/paths/a/b.csv", stores) == "s3://bucket/prefix/a/b.csv"
    long_form = "azureml://subscriptions/s/resourcegroups/r/workspaces/w/datastores/lake/paths/a"
    assert pjob.data.resolve_uri(long_form, stores) == "s3://bucket/prefix/a"
    monkeypatch.chdir(tmp_path)
    assert pjob.data.resolve_uri("azureml://datastores/default/paths/p", None) == str(
        tmp_path / "pjob-runs" / "datastores" / "default" / "p"
    )
    with pytest.raises(errors.UserError, match="datastore 'other'.*known: default, lake"):
        pjob.data.resolve_uri("azureml://datastores/other/paths/p", stores)
    with pytest.raises(errors.UserError, match="registered data asset"):
        pjob.data.resolve_uri("azureml:my_images:3", stores)
    with pytest.raises(errors.UserError, match="not a datastore URI"):
        pjob.data.resolve_uri("azureml://foo", stores)


def test_plan_of_a_datastore_uri_lists_the_mapped_folder(tmp_path, write):
    write(tmp_path / "ds" / "images", "1.png")
    write(tmp_path / "ds" / "images", "2.png")
    plan = pjob.data.plan(
        "uri_folder", "azureml://datastores/imgs/paths/images", "1", None, datastores={"imgs": str(tmp_path / "ds")}
    )
    assert [os.path.basename(mb.paths[0]) for mb in plan.mini_batches] == ["1.png", "2.png"]


def test_read_mini_batch_returns_local_paths_and_plan_round_trips_json(tree, tmp_path):
    plan = pjob.data.plan("uri_folder", str(tree), "4", None)
    again = minibatch.Plan.from_json(plan.to_json())
    assert again == plan
    json.loads(plan.to_json())
    got = pjob.data.read_mini_batch(again.mini_batches[1], str(tmp_path / "scratch"))
    assert got == plan.mini_batches[1].paths and all(os.path.isfile(p) for p in got)


def test_remote_listing_and_download_through_fsspec(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    for rel in ["b/2.txt", "a/1.txt", "a/.hidden", ".cache/x", "c.txt"]:
        fs.pipe(f"/pjob-test-remote/{rel}", rel.encode())
    plan = pjob.data.plan("uri_folder", "memory://pjob-test-remote", "2", None)
    flat = [p for mb in plan.mini_batches for p in mb.paths]
    assert flat == [
        "memory://pjob-test-remote/a/1.txt",
        "memory://pjob-test-remote/b/2.txt",
        "memory://pjob-test-remote/c.txt",
    ]
    local = pjob.data.read_mini_batch(plan.mini_batches[0], str(tmp_path / "scratch"))
    assert [open(p).read() for p in local] == ["a/1.txt", "b/2.txt"]
    assert all(p.startswith(str(tmp_path / "scratch")) for p in local)


def test_a_files_job_never_imports_pandas_or_pyarrow(tree, tmp_path):
    code = (
        "import sys, pjob.data\n"
        f"plan = pjob.data.plan('uri_folder', {str(tree)!r}, '2', None)\n"
        f"pjob.data.read_mini_batch(plan.mini_batches[0], {str(tmp_path)!r})\n"
        f"pjob.data.plan('mltable', {str(tree)!r}, '2', None)\n"
        "bad = [m for m in ('pandas', 'pyarrow', 'numpy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
