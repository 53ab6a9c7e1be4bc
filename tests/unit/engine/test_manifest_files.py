"""A files plan's manifest is written straight from the listing
(``manifest._files_lines``): byte for byte what the generic encoder writes
for each mini-batch, whatever the paths hold, with no mini-batch made."""

from __future__ import annotations

import json

import pytest
from pjob.data import files
from pjob.data.minibatch import MiniBatch, Plan
from pjob.engine import manifest, step

PLAIN = [f"/data/in/f{i:04d}.png" for i in range(23)]
ODD = [
    "/d/caf\u00e9.txt",  # non-ASCII
    "/d/\u65e5\u672c.csv",
    "/d/emoji-\U0001f600.bin",  # outside the BMP: a surrogate pair when escaped
    '/d/quote".txt',
    "/d/back\\slash.txt",
    "/d/lit\\u0000eral",  # the text of an escape, not the character
    "/d/tab\tnew\nline\r.txt",
    "/d/ctl\x01\x1f\x7f.txt",  # control characters and DEL
    "/d/surrogate-\udcff.txt",  # a name that is not UTF-8 (os.fsdecode's surrogateescape)
    "/d/plain.txt",
    "s3://bucket/key with space/x.json",
]


def _generic(batches: list[MiniBatch]) -> str:
    return "".join(manifest._ENCODER.encode(manifest._to_dict(mb)) + "\n" for mb in batches)


@pytest.mark.parametrize("paths", [PLAIN, ODD, PLAIN + ODD, ["/d/x"], []], ids=["plain", "odd", "mixed", "one", "none"])
@pytest.mark.parametrize("per_batch", [1, 3, 10])
def test_files_lines_are_the_generic_encoders(paths, per_batch):
    batches = files.plan_files(paths, per_batch)
    expected = _generic(list(batches))
    assert "".join(manifest._files_lines(paths, per_batch)) == expected
    assert "".join(manifest._line(mb) for mb in batches) == expected
    if len(paths) % per_batch:
        assert json.loads(expected.splitlines()[-1])["items"] == len(paths) % per_batch  # a short last batch
    for line, mb in zip(expected.splitlines(), batches):
        assert manifest.descriptor(line.encode()) == mb


def test_lines_come_in_chunks(monkeypatch):
    monkeypatch.setattr(manifest, "_CHUNK", 4)
    paths = PLAIN + ODD  # 34 files: 11 mini-batches of 3 and one of 1
    chunks = list(manifest._files_lines(paths, 3))
    assert len(chunks) == 4 and "".join(chunks) == _generic(list(files.plan_files(paths, 3)))


@pytest.mark.parametrize("paths", [PLAIN, ODD], ids=["plain", "odd"])
@pytest.mark.parametrize("per_batch", [1, 3, 10])
def test_write_is_byte_identical_to_the_eager_plan(tmp_path, paths, per_batch):
    lazy = Plan(kind="files", mini_batches=files.plan_files(paths, per_batch), items=len(paths), source="/d")
    eager = Plan(kind="files", mini_batches=list(lazy.mini_batches), items=len(paths), source="/d")
    manifest.write(lazy, str(tmp_path / "lazy.jsonl"), {"listed": 1})
    manifest.write(eager, str(tmp_path / "eager.jsonl"), {"listed": 1})
    written = (tmp_path / "lazy.jsonl").read_bytes()
    assert written == (tmp_path / "eager.jsonl").read_bytes()
    assert written.split(b"\n", 1)[1] == _generic(list(eager.mini_batches)).encode()
    assert manifest.read_plan(str(tmp_path / "lazy.jsonl")).mini_batches == lazy.mini_batches


def test_a_folder_plan_lists_and_counts_without_mini_batches(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(7):
        (folder / f"{i}.txt").write_text("x")
    task = type("Task", (), {"input_type": "uri_folder", "input_uri": str(folder), "work_dir": str(tmp_path / "w")})()
    plan = Plan(kind="files", mini_batches=files.plan_files(files.list_files(str(folder)), 3), items=7)
    assert manifest._listing(task, plan) is plan.mini_batches.paths  # type: ignore[attr-defined]

    def no_mini_batches(*args):
        raise AssertionError("a files plan made its mini-batches one by one")

    monkeypatch.setattr(files.FileBatches, "__iter__", no_mini_batches)
    monkeypatch.setattr(files.FileBatches, "_make", no_mini_batches)
    monkeypatch.setattr(task.__class__, "mini_batch_size", 3, raising=False)
    monkeypatch.setattr(task.__class__, "partition_keys", None, raising=False)
    (tmp_path / "w").mkdir()
    made = step.plan_once(task, lambda text: None)  # type: ignore[arg-type]
    assert made == step.Plan(3, [3, 3, 1])
    header, lines = manifest.read_header_and_lines(manifest.path_in(str(tmp_path / "w")))
    assert header["count"] == 3 and header["listed"] == 7 and len(lines) == 3
    assert header["listing"] == files.digest(files.list_files(str(folder)))


def test_read_header_reads_the_first_line_only(tmp_path):
    """The summary and the finalisation want the header (skipped entries,
    items): read from the first line, not the million lines after it."""
    path = str(tmp_path / manifest.FILE_NAME)
    plan = Plan(kind="files", mini_batches=files.plan_files(PLAIN, 2), items=len(PLAIN), source="/data/in")
    manifest.write(plan, path, {"skipped": "1 entry is not a regular file"})
    header = manifest.read_header(path)
    assert header == manifest.read_header_and_lines(path)[0]
    assert header["count"] == 12 and header["skipped"] == "1 entry is not a regular file"
    with open(path, "ab") as f:
        f.write(b"not json at all\n")  # the body is not read
    assert manifest.read_header(path) == header
    with pytest.raises(ValueError):
        manifest.read_header_and_lines(path)
    with open(path, "wb") as f:
        f.write(b"[1, 2]\n")
    with pytest.raises(ValueError):
        manifest.read_header(path)
