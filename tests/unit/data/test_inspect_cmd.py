"""`pjob inspect`: type inference, --json shape, dumps; run through the real CLI entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas


def pjob(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pjob.cli", "inspect", *args], capture_output=True, text=True, cwd=cwd)


def test_json_for_a_folder_and_file_type_inference(tmp_path, write):
    for i in range(5):
        write(tmp_path / "in", f"{i}.txt")
    out = pjob(str(tmp_path / "in"), "--mini-batch-size", "2", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report) == {"kind", "items", "columns", "mini_batches"}
    assert report["kind"] == "files" and report["items"] == 5 and report["columns"] == []
    assert [(m["index"], m["items"]) for m in report["mini_batches"]] == [(0, 2), (1, 2), (2, 1)]
    single = json.loads(pjob(str(tmp_path / "in" / "0.txt"), "--json").stdout)
    assert single["items"] == 1 and len(single["mini_batches"]) == 1


def test_mltable_dumps_and_counts(tmp_path, write):
    write(tmp_path / "t", "a.csv", "n,s\n" + "".join(f"{i},v{i}\n" for i in range(300)))
    write(tmp_path / "t", "MLTable", "paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {}\n")
    quick = json.loads(pjob(str(tmp_path / "t"), "--mini-batch-size", "1kb", "--json").stdout)
    assert all(m["estimated"] for m in quick["mini_batches"]) and 250 <= quick["items"] <= 350
    dump_dir, dump = tmp_path / "mbs", tmp_path / "all.parquet"
    out = pjob(
        str(tmp_path / "t"),
        "--mini-batch-size",
        "1kb",
        "--json",
        "--dump",
        str(dump),
        "--dump-mini-batches",
        str(dump_dir),
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["kind"] == "table" and report["items"] == 300
    assert report["columns"] == [{"name": "n", "type": "int"}, {"name": "s", "type": "string"}]
    assert not any(m.get("estimated") for m in report["mini_batches"])
    parts = [pandas.read_parquet(dump_dir / f"{m['index']}.parquet") for m in report["mini_batches"]]
    assert len(parts) == 3 and [len(p) for p in parts] == [m["items"] for m in report["mini_batches"]]
    assert pandas.concat(parts, ignore_index=True).equals(pandas.read_parquet(dump))


def test_partition_keys_text_output_and_file_list_dumps(tmp_path, write):
    write(tmp_path / "t", "a.csv", "k,v\nb,1\na,2\nb,3\n")
    write(tmp_path / "t", "MLTable", "paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {}\n")
    out = pjob(str(tmp_path / "t"), "--partition-keys", "k")
    assert out.returncode == 0 and "mini-batches: 2" in out.stdout and "k: string" in out.stdout
    write(tmp_path / "f", "x/1.txt")
    write(tmp_path / "f", "2.txt")
    out = pjob(str(tmp_path / "f"), "--dump", str(tmp_path / "f.parquet"), "--dump-mini-batches", str(tmp_path / "fm"))
    assert out.returncode == 0, out.stderr
    assert pandas.read_parquet(tmp_path / "f.parquet")["path"].map(os.path.basename).tolist() == ["2.txt", "1.txt"]
    assert open(tmp_path / "fm" / "0.txt").read().splitlines() == [
        str(tmp_path / "f" / "2.txt"),
        str(tmp_path / "f" / "x" / "1.txt"),
    ]


def test_bad_input_exits_2_with_a_one_line_error(tmp_path):
    out = pjob(str(tmp_path / "missing"))
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "d").mkdir()
    out = pjob(str(tmp_path / "d"), "--mini-batch-size", "ten")
    assert out.returncode == 2 and "mini_batch_size" in out.stderr
