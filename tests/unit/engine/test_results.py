"""Append_row formatting, part files and the ordered merge (pjob.engine.results),
and the manifest round trip (pjob.engine.manifest)."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from pjob.data.minibatch import MiniBatch, Plan
from pjob.engine import manifest, results


@pytest.mark.parametrize(
    "value,count,rows",
    [
        (["a", 1, 2.5], 3, b"a\n1\n2.5\n"),
        (("x", None), 2, b"x\nNone\n"),
        ([], 0, b""),
        (None, 0, b""),
        ((i for i in range(2)), 2, b"0\n1\n"),
        (["multi\nline"], 1, b"multi\nline\n"),
    ],
)
def test_format_list_returns_is_str_plus_newline(value, count, rows):
    assert results.format_returns(value) == (count, b"", rows)


def test_format_dataframe_matches_azure_to_csv():
    df = pd.DataFrame({"a": [1, 2], "b": ["x y", "z"]})
    n, header, rows = results.format_returns(df)
    assert n == 2
    assert rows == df.to_csv(sep=" ", header=None, index=None).encode()
    assert header == b"a b\n"


@pytest.mark.parametrize("bad", ["text", b"bytes", {"a": 1}, 42])
def test_format_rejects_non_sequences(bad):
    with pytest.raises(results.ReturnTypeError):
        results.format_returns(bad)


def test_segments_merge_in_index_order_with_header_once(tmp_path):
    parts = str(tmp_path / "parts")
    os.makedirs(parts)
    w1 = results.SegmentWriter(parts, "0", "process000")
    w1.commit(10, 1, 2, 2, 0, b"c1 c2\n", b"10 a\n10 b\n")
    w1.commit(0, 1, 3, 1, 2, b"", b"0 a\n")
    w2 = results.SegmentWriter(parts, "0", "process001")
    w2.commit(2, 1, 1, 1, 0, b"c1 c2\n", b"2 old\n")
    w2.commit(2, 2, 1, 1, 0, b"c1 c2\n", b"2 a\n")  # committed twice (retried): the later attempt wins
    refs = results.scan(parts)
    assert sorted(refs) == [0, 2, 10]
    assert (refs[0].items, refs[0].succeeded, refs[0].failed) == (3, 1, 2)
    out = tmp_path / "out" / "result.txt"
    assert results.merge(parts, 11, str(out)) == (3, len(b"0 a\n2 a\n10 a\n10 b\n"))
    assert out.read_bytes() == b"0 a\n2 a\n10 a\n10 b\n"
    results.merge(parts, 11, str(out), dataframe_header=True)
    assert out.read_bytes() == b"c1 c2\n0 a\n2 a\n10 a\n10 b\n"
    assert results.merge(parts, 5, str(out))[0] == 2  # indexes beyond the plan are ignored


def test_a_dataframes_rows_go_to_the_segment_as_the_bytes_to_csv_writes(tmp_path):
    """format_returns may give the rows as a view of an Arrow buffer (no copy):
    committed and merged, they are to_csv's bytes, non-ASCII text included."""
    frame = pd.DataFrame({"id": [1, 2], "name": ["é x", "ü"]})
    n, header, rows = results.format_returns(frame)
    parts = str(tmp_path / "parts")
    os.makedirs(parts)
    w = results.SegmentWriter(parts, "0", "process000")
    w.commit(0, 1, n, n, 0, header, rows)
    w.close()
    out = tmp_path / "out.txt"
    results.merge(parts, 1, str(out))
    assert out.read_bytes() == frame.to_csv(sep=" ", header=False, index=False).encode("utf-8")


def test_merge_releasing_mapped_pages_writes_the_same(tmp_path, monkeypatch):
    parts = str(tmp_path / "parts")
    os.makedirs(parts)
    writers = [results.SegmentWriter(parts, "0", f"process00{i}") for i in range(2)]
    rows = {i: b"".join(b"%d %d %s\n" % (i, j, b"x" * (i % 7)) for j in range(300)) for i in range(40)}
    for i, data in rows.items():
        writers[i % 2].commit(i, 1, 300, 300, 0, b"", data)
    released, original = [], results._release
    monkeypatch.setattr(results, "_RELEASE_EVERY", 1000)  # release the mapped pages after nearly every record
    monkeypatch.setattr(results, "_release", lambda maps: released.append(1) or original(maps))
    out = tmp_path / "result.txt"
    results.merge(parts, 40, str(out))
    assert out.read_bytes() == b"".join(rows[i] for i in range(40))
    assert len(released) >= 30


def test_merge_gathers_pieces_and_goes_on_after_short_writes(tmp_path, monkeypatch):
    """The merge writes row slices of the mapped segments with writev, at
    most _GATHER at a time; a short write goes on where it stopped; a failed
    write leaves no output and no map open."""
    parts = str(tmp_path / "parts")
    os.makedirs(parts)
    writers = [results.SegmentWriter(parts, "0", f"process00{i}") for i in range(2)]
    rows = {i: b"".join(b"%d %d\n" % (i, j) for j in range(i * 7)) for i in range(30)}  # record 0: no rows
    for i, data in rows.items():
        writers[i % 2].commit(i, 1, 1, 1, 0, b"", data)
    monkeypatch.setattr(results, "_GATHER", 3)
    calls, real_writev = [], os.writev

    def short_writev(fd, views):
        calls.append(len(views))
        cut = [bytes(v) for v in views]
        data = b"".join(cut)
        return real_writev(fd, [data[: max(1, len(data) // 3)]]) if len(data) > 1 else real_writev(fd, cut)

    monkeypatch.setattr(results.os, "writev", short_writev)
    out = tmp_path / "result.txt"
    assert results.merge(parts, 30, str(out)) == (30, sum(map(len, rows.values())))
    assert out.read_bytes() == b"".join(rows[i] for i in range(30))
    assert len(calls) > 30 and max(calls) <= 3  # a record's rows are one slice; at most _GATHER a call

    def full_disk(fd, views):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results.os, "writev", full_disk)
    with pytest.raises(OSError) as err:
        results.merge(parts, 30, str(tmp_path / "other.txt"))
    assert err.value.errno == 28 and err.value.filename == str(tmp_path / "other.txt")
    assert not (tmp_path / "other.txt").exists()


def test_a_scanner_advanced_as_records_come_ends_where_one_scan_does(tmp_path):
    """The driver advances a Scanner while the step runs: whatever it read
    before (half-written records included), the merge sees what one scan of
    the finished segments sees, duplicates resolved the same way."""
    parts = str(tmp_path / "parts")
    os.makedirs(parts)
    scanner = results.Scanner(parts)
    assert scanner.advance() == {}
    old = results.SegmentWriter(parts, "0", "process000")
    new = results.SegmentWriter(parts, "0", "process001")
    old.commit(0, 1, 1, 1, 0, b"", b"0 old-segment\n")
    new.commit(0, 1, 1, 1, 0, b"", b"0 new-segment\n")  # same attempt: the newer segment wins
    assert set(scanner.advance()) == {0}
    new.commit(1, 2, 1, 1, 0, b"", b"1 attempt 2\n")
    new.commit(4, 1, 1, 1, 0, b"", b"4 new-segment\n")
    scanner.advance()
    old.commit(4, 1, 1, 1, 0, b"", b"4 old-segment\n")  # read after the newer segment's: still loses
    old.commit(1, 1, 1, 1, 0, b"", b"1 attempt 1\n")  # committed later, but a lower attempt
    old.commit(2, 1, 1, 1, 0, b"", b"2 first\n")
    # a record being written as the scanner looks: read once it is whole
    record = results._RECORD.pack(results._MAGIC, 3, 1, 1, 1, 0, 0, 8) + b"3 rows!\n" + results._TRAILER
    with open(old.path, "ab") as f:
        f.write(record[:30])
    assert 3 not in scanner.advance()
    with open(old.path, "ab") as f:
        f.write(record[30:])
    old.commit(2, 1, 1, 1, 0, b"", b"2 again\n")  # same attempt, same segment: the later record
    got = scanner.advance()
    assert got == results.scan(parts)
    assert sorted(got) == [0, 1, 2, 3, 4]
    out = tmp_path / "out.txt"
    results.merge(parts, 5, str(out), scanner=scanner)
    assert out.read_bytes() == b"0 new-segment\n1 attempt 2\n2 again\n3 rows!\n4 new-segment\n"


@pytest.mark.parametrize("cut", [1, 4, 5, 40, 95])  # the second record is 96 bytes
def test_torn_tail_is_ignored(tmp_path, cut):
    parts = str(tmp_path)
    w = results.SegmentWriter(parts, "0", "process000")
    w.commit(0, 1, 1, 1, 0, b"", b"zero\n")
    w.commit(1, 1, 1, 1, 0, b"", b"one\n" * 10)
    w.close()
    [path] = results.segments(parts)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - cut)
    assert results.committed_indexes(parts) == {0}


def test_drop_forgets_records_and_keeps_the_rest(tmp_path):
    parts = str(tmp_path)
    w = results.SegmentWriter(parts, "0", "process000")
    for i in range(4):
        w.commit(i, 1, 1, 1, 0, b"", f"{i}\n".encode())
    w.close()
    results.drop(parts, {1, 3})
    assert results.committed_indexes(parts) == {0, 2}
    assert len(results.segments(parts)) == 1
    out = tmp_path / "o.txt"
    results.merge(parts, 4, str(out))
    assert out.read_bytes() == b"0\n2\n"


def test_manifest_round_trip(tmp_path):
    plan = Plan(
        kind="table",
        items=7,
        columns=[("a", "int")],
        source="/d",
        mini_batches=[
            MiniBatch(index=0, kind="table", items=4, path="/d/x.csv", byte_range=(0, 40), table={"reader": "csv"}),
            MiniBatch(index=1, kind="table", items=3, path="/d/x.csv", byte_range=(40, 80)),
        ],
    )
    path = str(tmp_path / "manifest.jsonl")
    manifest.write(plan, path)
    header, lines = manifest.read_header_and_lines(path)
    assert header["count"] == 2 and len(lines) == 2
    assert manifest.descriptor(lines[1]) == plan.mini_batches[1]
    again = manifest.read_plan(path)
    assert again.mini_batches == plan.mini_batches and again.columns == plan.columns
    with open(path, "ab") as f:
        f.truncate(os.path.getsize(path) - len(lines[1]) - 1)  # lose the last line
    with pytest.raises(ValueError, match="truncated"):
        manifest.read_header_and_lines(path)


@pytest.mark.parametrize(
    "paths",
    [
        ["/d/a.txt"],
        ['/d/one "quoted" ünï\\tab\t.txt'],
        ["/d/a b.txt", '/d/quo"te\\x.txt', "/d/ünï cødé.txt", "/d/tab\there.txt", "/d/emoji-\U0001f600.txt"],
    ],
)
def test_files_manifest_lines_are_byte_identical_to_the_generic_encoder(paths):
    mb = MiniBatch(index=12, kind="files", items=len(paths), paths=paths)
    fast = manifest._line(mb)
    assert fast == manifest._ENCODER.encode(mb.to_dict()) + "\n"
    assert manifest.descriptor(fast.rstrip("\n").encode()) == mb
    keyed = MiniBatch(index=1, kind="files", items=1, paths=paths, key_values={"k": 1})  # not the fast shape
    assert manifest.descriptor(manifest._line(keyed).rstrip("\n").encode()) == keyed
