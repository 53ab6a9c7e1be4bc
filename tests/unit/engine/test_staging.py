"""Staging of end-of-step files (``pjob.engine.fileio``, ``results.merge``):
the new content is written where readers of the destination never look,
leftovers of a killed writer are removed, a failed write removes its own."""

import os

import pytest
from pjob.engine import fileio, results


def _commit(parts, index, rows):
    writer = results.SegmentWriter(str(parts), "0", "process000")
    writer.commit(index, 1, 1, 1, 0, b"", rows)
    writer.close()


def test_merge_stages_in_the_work_folder_and_leaves_only_the_output(tmp_path):
    parts, out_dir = tmp_path / "work" / "parts", tmp_path / "outputs"
    parts.mkdir(parents=True)
    _commit(parts, 0, b"a\n")
    staging = tmp_path / "work" / "staging"
    assert fileio.staging_path(str(out_dir / "rows.txt"), str(staging), "merge").startswith(str(staging))
    results.merge(str(parts), 1, str(out_dir / "rows.txt"), staging_dir=str(staging))
    assert os.listdir(out_dir) == ["rows.txt"] and os.listdir(staging) == []


def test_leftovers_of_a_killed_merge_are_removed_wherever_they_were_staged(tmp_path):
    out_dir, staging = tmp_path / "outputs", tmp_path / "staging"
    out_dir.mkdir()
    staging.mkdir()
    destination = str(out_dir / "parallel_run_step.txt")
    left = [
        staging / ".parallel_run_step.txt.pjob-merge.123.tmp",
        out_dir / ".parallel_run_step.txt.pjob-merge.9.tmp",
        out_dir / "parallel_run_step.txt.pjob-merge.4242.tmp",
    ]  # the last: the name older versions used
    for path in left:
        path.write_text("half")
    (out_dir / "user-file.tmp").write_text("mine")  # never touched: not ours
    assert sorted(fileio.remove_staged(destination, str(staging))) == sorted(map(str, left))
    assert os.listdir(out_dir) == ["user-file.tmp"]


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs a second filesystem")
def test_a_destination_on_another_filesystem_is_staged_hidden_beside_it(tmp_path):
    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same filesystem here")
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        path = fileio.staging_path(os.path.join(other, "rows.txt"), str(tmp_path / "staging"), "merge")
        assert os.path.dirname(path) == other and os.path.basename(path).startswith(".")
        parts = tmp_path / "parts"
        parts.mkdir()
        _commit(parts, 0, b"x\n")
        results.merge(str(parts), 1, os.path.join(other, "rows.txt"), staging_dir=str(tmp_path / "staging"))
        assert os.listdir(other) == ["rows.txt"]


def test_a_failed_merge_removes_its_staging_file(tmp_path):
    parts, staging = tmp_path / "parts", tmp_path / "staging"
    parts.mkdir()
    _commit(parts, 0, b"a\n" * 1000)
    destination = tmp_path / "out"
    destination.mkdir()  # the rename over a folder fails after the rows were written
    with pytest.raises(OSError):
        results.merge(str(parts), 1, str(destination), staging_dir=str(staging))
    assert os.listdir(staging) == []


def test_leftovers_of_a_killed_atomic_write_are_removed(tmp_path):
    (tmp_path / "job_result.txt").write_text("old")
    (tmp_path / "job_result.txt.tmp.4242").write_text("half")
    (tmp_path / "job_result.txt.tmpl").write_text("not ours")
    assert fileio.remove_atomic_leftovers(str(tmp_path / "job_result.txt")) == [
        str(tmp_path / "job_result.txt.tmp.4242")
    ]
    assert sorted(os.listdir(tmp_path)) == ["job_result.txt", "job_result.txt.tmpl"]
