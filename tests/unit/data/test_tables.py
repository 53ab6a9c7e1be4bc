"""Tabular MLTable inputs: parsing, readers, transformations, planning by bytes and keys."""

from __future__ import annotations

import os

import pandas
import pjob.data
import pytest
from pjob.data import mltable, sizes
from pjob.spec import errors


def make_table(root, files: dict[str, str | bytes], mltable_yaml: str) -> str:
    os.makedirs(root, exist_ok=True)
    for rel, text in files.items():
        path = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)
    with open(os.path.join(root, "MLTable"), "w") as fh:
        fh.write(mltable_yaml)
    return str(root)


CSV = "paths:\n  - pattern: ./*.csv\ntransformations:\n  - read_delimited:\n"


def whole_and_batches(root, size, keys=None):
    plan = pjob.data.plan("mltable", root, size, keys)
    batches = [pjob.data.read_mini_batch(mb, "/tmp") for mb in plan.mini_batches]
    return plan, pjob.data.read_table("mltable", root), batches


def test_csv_types_nulls_and_path_column_like_azure(tmp_path):
    root = make_table(
        tmp_path / "t",
        {"a.csv": "i,f,b,s,d,e\n1,1.5,true,x,2020-01-02,\n2,2,False,y,2021-03-04 05:06:07,z\n"},
        CSV + "      include_path_column: true\n",
    )
    frame = pjob.data.read_table("mltable", root)
    assert list(frame.columns) == ["Path", "i", "f", "b", "s", "d", "e"]
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "Path": "object",
        "i": "int64",
        "f": "float64",
        "b": "bool",
        "s": "object",
        "d": "datetime64[ns]",
        "e": "object",
    }
    assert frame["e"].tolist() == [None, "z"]
    assert frame["Path"].tolist() == [os.path.join(root, "a.csv")] * 2


def test_header_modes_and_ragged_rows(tmp_path):
    files = {"a.csv": "a,b\n1,2\n", "b.csv": "a,b\n3,4\n"}
    no_header = pjob.data.read_table("mltable", make_table(tmp_path / "n", files, CSV + "      header: no_header\n"))
    assert list(no_header.columns) == ["Column1", "Column2"] and no_header["Column1"].tolist() == ["a", "1", "a", "3"]
    first = pjob.data.read_table("mltable", make_table(tmp_path / "f", files, CSV + "      header: from_first_file\n"))
    assert first["a"].tolist() == ["1", "a", "3"]
    ragged = pjob.data.read_table(
        "mltable", make_table(tmp_path / "r", {"a.csv": "a,b\n1,2\n3\n4,5,6\n"}, CSV + "      {}\n")
    )
    assert list(ragged.columns) == ["a", "b", "Column3"] and ragged["b"].isna().tolist() == [False, True, False]


def test_single_line_mode_splits_quoted_newlines_like_azure(tmp_path):
    files = {"a.csv": 'A,B,C\nA1,B1,C1\nA2,"B\n2",C2\n'}
    single = pjob.data.read_table("mltable", make_table(tmp_path / "s", files, CSV + "      {}\n"))
    assert single.values.tolist() == [["A1", "B1", "C1"], ["A2", '"B', None], ['2"', "C2", None]]
    multi = pjob.data.read_table("mltable", make_table(tmp_path / "m", files, CSV + "      support_multi_line: true\n"))
    assert multi.values.tolist() == [["A1", "B1", "C1"], ["A2", "B\n2", "C2"]]


def test_transformations_in_order(tmp_path):
    rows = "".join(f"{i},{'abc'[i % 3]},{i * 0.5}\n" for i in range(50))
    yaml = CSV + (
        '      {}\n  - skip: 5\n  - take: 30\n  - filter: \'col("k") != "b" and col("n") >= 8\'\n'
        "  - drop_columns: x\n  - convert_column_types:\n      - columns: n\n        column_type: string\n"
    )
    root = make_table(tmp_path / "t", {"a.csv": "n,k,x\n" + rows}, yaml)
    plan, whole, batches = whole_and_batches(root, "64")
    expected = [str(i) for i in range(5, 35) if "abc"[i % 3] != "b" and i >= 8]
    assert whole["n"].tolist() == expected and list(whole.columns) == ["n", "k"]
    assert pandas.concat(batches, ignore_index=True).equals(whole)
    assert len(plan.mini_batches) > 2 and sum(mb.items for mb in plan.mini_batches) == len(expected)


def test_take_stops_planning_early_and_sample_is_slice_independent(tmp_path):
    rows = "".join(f"{i}\n" for i in range(2000))
    root = make_table(tmp_path / "t", {"a.csv": "n\n" + rows}, CSV + "      {}\n  - take: 7\n")
    plan, whole, batches = whole_and_batches(root, "100")
    assert len(plan.mini_batches) == 1 and whole["n"].tolist() == list(range(7))
    root = make_table(
        tmp_path / "s", {"a.csv": "n\n" + rows}, CSV + "      {}\n  - take_random_sample: {probability: 0.3, seed: 4}\n"
    )
    for size in ("100", "1kb", "1mb"):
        plan, whole, batches = whole_and_batches(root, size)
        assert pandas.concat(batches, ignore_index=True).equals(whole)
    assert 450 < len(whole) < 750


def test_keep_columns_by_pattern_and_unknown_column_is_named(tmp_path):
    root = make_table(
        tmp_path / "t", {"a.csv": "id_a,v,id_b\n1,2,3\n"}, CSV + "      {}\n  - keep_columns: {pattern: 'id_.*'}\n"
    )
    assert list(pjob.data.read_table("mltable", root).columns) == ["id_a", "id_b"]
    root = make_table(tmp_path / "u", {"a.csv": "a\n1\n"}, CSV + "      {}\n  - drop_columns: [nope]\n")
    with pytest.raises(errors.UserError, match="drop_columns: column 'nope'"):
        pjob.data.read_table("mltable", root)


@pytest.mark.parametrize(
    "step, message",
    [
        ("read_delta_lake: {}", "read_delta_lake"),
        ("pivot: {}", "transformation 'pivot' is not supported"),
        ("filter: 'import os'", "filter"),
        ('filter: \'__import__("os").system("x")\'', "filter"),
        ("take: -1", "take"),
    ],
)
def test_unsupported_or_bad_steps_name_the_transformation(tmp_path, step, message):
    root = make_table(tmp_path / "t", {"a.csv": "a\n1\n"}, f"paths:\n  - file: ./a.csv\ntransformations:\n  - {step}\n")
    with pytest.raises(errors.UserError, match=message) as exc:
        pjob.data.plan("mltable", root, None, None)
    assert "MLTable" in str(exc.value)


def test_mltable_problems_name_the_line_of_the_field(tmp_path):
    text = "paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n      header: sometimes\n  - take: 1\n"
    root = make_table(tmp_path / "t", {"a.csv": "a\n1\n"}, text)
    with pytest.raises(errors.UserError) as exc:
        pjob.data.plan("mltable", root, None, None)
    (problem,) = exc.value.problems
    assert (problem.line, problem.field) == (6, "transformations[0].read_delimited.header")
    assert str(problem).startswith(os.path.join(root, "MLTable") + ":6: ")


def test_reader_option_typo_is_rejected(tmp_path):
    root = make_table(tmp_path / "t", {"a.csv": "a\n1\n"}, CSV + "      delimeter: ';'\n")
    with pytest.raises(errors.UserError, match="option 'delimeter'"):
        pjob.data.plan("mltable", root, None, None)


def test_mltable_without_reader_is_a_file_list_and_folder_without_mltable_is_files(tmp_path):
    root = make_table(
        tmp_path / "t", {"d/a.txt": "1", "d/b.txt": "2", "c.bin": "3"}, "paths:\n  - folder: ./d\n  - file: ./c.bin\n"
    )
    plan = pjob.data.plan("mltable", root, "2", None)
    assert plan.kind == "files" and [[os.path.basename(p) for p in mb.paths] for mb in plan.mini_batches] == [
        ["a.txt", "b.txt"],
        ["c.bin"],
    ]
    os.remove(os.path.join(root, "MLTable"))
    plan = pjob.data.plan("mltable", root, None, None)
    assert plan.kind == "files" and plan.items == 3


def test_pattern_paths_match_nested_and_top_level(tmp_path):
    root = make_table(
        tmp_path / "t",
        {"a.csv": "a\n1\n", "x/b.csv": "a\n2\n", "x/y/c.csv": "a\n3\n", "x/n.txt": "a\n4\n"},
        "paths:\n  - pattern: ./**/*.csv\ntransformations:\n  - read_delimited: {}\n",
    )
    assert pjob.data.read_table("mltable", root)["a"].tolist() == [1, 2, 3]


def test_plain_number_for_a_table_is_bytes():
    assert (
        sizes.table_bytes("100") == 100 and sizes.table_bytes("10mb") == 10 << 20 and sizes.table_bytes(None) == 1 << 20
    )


def test_csv_byte_ranges_are_line_aligned_and_about_the_right_size(tmp_path):
    rows = "".join(f"{i},{'x' * (i % 17)}\n" for i in range(5000))
    root = make_table(tmp_path / "t", {"a.csv": "n,s\n" + rows}, CSV + "      {}\n")
    plan, whole, batches = whole_and_batches(root, "4kb")
    size = os.path.getsize(os.path.join(root, "a.csv"))
    assert abs(len(plan.mini_batches) - size / 4096) <= 1
    assert [mb.byte_range[0] for mb in plan.mini_batches[1:]] == [mb.byte_range[1] for mb in plan.mini_batches[:-1]]
    assert pandas.concat(batches, ignore_index=True).equals(whole) and whole["n"].tolist() == list(range(5000))


def test_single_row_group_parquet_still_splits(tmp_path):
    import pyarrow
    import pyarrow.parquet

    root = tmp_path / "p"
    root.mkdir()
    table = pyarrow.table({"n": list(range(10000)), "s": [f"v{i}" for i in range(10000)]})
    pyarrow.parquet.write_table(table, root / "a.parquet", row_group_size=100000)
    make_table(root, {}, "paths:\n  - pattern: ./*.parquet\ntransformations:\n  - read_parquet: {}\n")
    plan, whole, batches = whole_and_batches(str(root), "8kb")
    assert len(plan.mini_batches) > 3 and all(mb.row_groups == [0] and mb.row_range for mb in plan.mini_batches)
    assert sum(mb.items for mb in plan.mini_batches) == 10000 == plan.items
    assert pandas.concat(batches, ignore_index=True).equals(whole) and whole["n"].tolist() == list(range(10000))


def test_jsonl_types_invalid_lines_and_missing_keys(tmp_path):
    files = {"a.jsonl": '{"a": 1, "b": "x", "c": true}\nnot json\n{"a": 2, "d": [1, 2]}\n'}
    yaml = "paths:\n  - pattern: ./*.jsonl\ntransformations:\n  - read_json_lines: {invalid_lines: drop}\n"
    frame = pjob.data.read_table("mltable", make_table(tmp_path / "t", files, yaml))
    assert frame["a"].dtype == "int64" and frame["b"].tolist() == ["x", None] and frame["d"].tolist()[1] == [1, 2]
    strict = make_table(tmp_path / "s", files, yaml.replace("invalid_lines: drop", ""))
    with pytest.raises(errors.UserError, match="line 2 is not a JSON object"):
        pjob.data.read_table("mltable", strict)


def test_partition_keys_from_folders_and_columns(tmp_path):
    files = {"US/2020/01/02/p.csv": "a,b\n1,x\n2,y\n", "FR/2020/01/03/q.csv": "a,b\n3,x\n4,z\n"}
    yaml = (
        "paths:\n  - pattern: ./**/*.csv\ntransformations:\n  - read_delimited: {}\n"
        "  - extract_columns_from_partition_format: {partition_format: '/{Country}/{D:yyyy/MM/dd}/'}\n"
    )
    root = make_table(tmp_path / "t", files, yaml)
    plan = pjob.data.plan("mltable", root, None, ["Country"])
    assert [mb.key_values for mb in plan.mini_batches] == [{"Country": "FR"}, {"Country": "US"}]
    frame = pjob.data.read_mini_batch(plan.mini_batches[1], "/tmp")
    assert frame["a"].tolist() == [1, 2] and str(frame["D"].dtype) == "datetime64[ns]"
    plan = pjob.data.plan("mltable", root, None, ["b", "Country"])
    assert [tuple(mb.key_values.values()) for mb in plan.mini_batches] == [
        ("x", "FR"),
        ("x", "US"),
        ("y", "US"),
        ("z", "FR"),
    ]
    assert [mb.items for mb in plan.mini_batches] == [1, 1, 1, 1]
    with pytest.raises(errors.UserError, match="not columns") as exc:
        pjob.data.plan("mltable", root, None, ["nope"])
    assert exc.value.problems[0].field == "partition_keys"


def test_mltable_parse_normalises_steps():
    doc = {
        "paths": [{"file": "a.csv"}],
        "transformations": [
            {"read_delimited": {"encoding": "latin-1", "partition_size": 100}},
            {"keep_columns": ["a", "b"]},
            {"convert_column_types": [{"columns": "d", "column_type": {"datetime": {"formats": "%Y"}}}]},
        ],
    }
    table = mltable.parse(doc, base="/data")
    assert table.reader["encoding"] == "latin-1" and table.paths == [{"file": "/data/a.csv"}]
    assert table.steps[0]["args"] == {"columns": ["a", "b"]}
    assert table.steps[1]["args"] == [{"columns": ["d"], "type": "datetime", "formats": ["%Y"]}]


def test_top_level_keys_query_source_and_type_overrides(tmp_path):
    base = {"paths": [{"file": "a.csv"}], "transformations": [{"read_delimited": {}}]}
    with pytest.raises(errors.UserError, match="query_source"):
        mltable.parse({**base, "query_source": {}}, base="/d")
    with pytest.raises(errors.UserError, match="unknown key"):
        mltable.parse({**base, "pathz": []}, base="/d")
    mltable.parse({**base, "type": "mltable", "traits": {"index_columns": ["a"]}, "metadata": {}}, base="/d")
    yaml = CSV + (
        "      infer_column_types:\n        sample_size: 5\n        column_type_overrides:\n"
        "          - columns: z\n            column_type: string\n"
    )
    frame = pjob.data.read_table("mltable", make_table(tmp_path / "t", {"a.csv": "z,n\n01,1\n2,2\n"}, yaml))
    assert frame["z"].tolist() == ["01", "2"] and frame["n"].dtype == "int64"


@pytest.mark.parametrize(
    "reader, files, keys",
    [
        ("read_delimited: {}", {"a.csv": "k,n\n" + "".join(f"{'xy'[i % 2]},{i}\n" for i in range(300))}, None),
        ("read_delimited: {}", {"a.csv": "k,n\n" + "".join(f"{'xy'[i % 2]},{i}\n" for i in range(300))}, ["k"]),
        ("read_json_lines: {}", {"a.jsonl": "".join(f'{{"n": {i}}}\n' for i in range(300))}, None),
    ],
)
def test_descriptors_survive_the_json_manifest(tmp_path, reader, files, keys):
    from pjob.data import minibatch

    pattern = "./*.jsonl" if "json" in reader else "./*.csv"
    root = make_table(
        tmp_path / "t", files, f"paths:\n  - pattern: {pattern}\ntransformations:\n  - {reader}\n  - skip: 5\n"
    )
    plan = pjob.data.plan("mltable", root, "512", keys)
    again = minibatch.Plan.from_json(plan.to_json())
    assert len(again.mini_batches) == len(plan.mini_batches) > 1
    for a, b in zip(plan.mini_batches, again.mini_batches):
        assert pjob.data.read_mini_batch(a, "/tmp").equals(pjob.data.read_mini_batch(b, "/tmp"))


def test_every_mini_batch_gets_the_same_dtypes(tmp_path):
    rows = "".join(f"{i},{'' if i % 50 == 0 else i},{'true' if i % 2 else 'false'}\n" for i in range(1, 400))
    root = make_table(tmp_path / "t", {"a.csv": "a,b,c\n" + rows}, CSV + "      {}\n")
    plan = pjob.data.plan("mltable", root, "300", None)
    assert plan.columns == [("a", "int"), ("b", "float"), ("c", "bool")]
    dtypes = {tuple(str(t) for t in pjob.data.read_mini_batch(mb, "/tmp").dtypes) for mb in plan.mini_batches}
    assert len(plan.mini_batches) > 10 and dtypes == {("int64", "float64", "bool")}


@pytest.mark.parametrize(
    "expression, expected",
    [
        ('col("b") == "hi!"', [1]),
        ('col("b") == "x&&y" || col("a") > 2', [2, 3]),
        ('!(col("a") > 1) && col("a") != 5', [1]),
        ('col("b").contains("&") or col("b").endswith("!")', [1, 2]),
        ('col("c") == None', [3]),
        ('col("c") >= 1.5', [2]),
    ],
)
def test_filter_expressions(tmp_path, expression, expected):
    yaml = CSV + f"      {{}}\n  - filter: '{expression}'\n"
    root = make_table(tmp_path / "t", {"a.csv": "a,b,c\n1,hi!,1\n2,x&&y,2\n3,z,\n"}, yaml)
    assert pjob.data.read_table("mltable", root)["a"].tolist() == expected


def test_utf16_file_splits_at_line_breaks_and_reads_back(tmp_path):
    # \u0a0a and \u0a00 hold the bytes of a LE line break at odd offsets: no cut may land there
    text = "a,b\r\n" + "".join(f"{i},\u00fc{i}\u0a0a\u0a00\U0001f600\r\n" for i in range(500))
    root = make_table(tmp_path / "t", {"a.csv": text.encode("utf-16")}, CSV + "      encoding: utf16\n")
    plan, whole, batches = whole_and_batches(root, "1kb")
    assert len(plan.mini_batches) > 10
    assert whole["b"].tolist()[:2] == ["\u00fc0\u0a0a\u0a00\U0001f600", "\u00fc1\u0a0a\u0a00\U0001f600"]
    assert len(whole) == 500 and whole.equals(pandas.concat(batches, ignore_index=True))


def test_big_endian_utf16_and_multi_line_utf16_stay_whole(tmp_path):
    text = "a,b\n" + "".join(f"{i},x{i}\n" for i in range(300))
    for name, data, extra in [
        ("be", text.encode("utf-16-be"), ""),
        ("ml", text.encode("utf-16"), "      support_multi_line: true\n"),
    ]:
        if name == "be":
            data = b"\xfe\xff" + data
        root = make_table(tmp_path / name, {"a.csv": data}, CSV + "      encoding: utf16\n" + extra)
        plan, whole, _ = whole_and_batches(root, "1kb")
        assert len(plan.mini_batches) == 1 and len(whole) == 300 and whole["b"].tolist()[-1] == "x299"
