"""Arrow arrays that start at an offset (the reader drops a header line by
slicing) convert to the right values on every pyarrow pyproject admits.

pyarrow < 24 computes ``if_else`` over a sliced string array wrongly (an
invalid array, or values shifted into other rows' bytes); these tests fail
there unless pjob hands the kernels arrays that start at offset 0. CI runs
this folder on the pyproject floors too (``make test-floors``).
"""

from __future__ import annotations

import os

import pjob.data
import pyarrow
from pjob.data import inference


def _sliced(values):
    return pyarrow.array(["header", *values], type=pyarrow.string()).slice(1)


def test_to_series_of_a_sliced_array_keeps_every_value_and_null():
    text = _sliced(["", "1992-09-01", "a long value that crosses other rows' bytes", "x", ""])
    assert inference.to_series(text, "string", "s").tolist() == [
        None,
        "1992-09-01",
        "a long value that crosses other rows' bytes",
        "x",
        None,
    ]
    floats = _sliced(["1.5", "", "2.25", "300.125"])
    assert inference.to_series(floats, "float", "f").fillna(-1).tolist() == [1.5, -1, 2.25, 300.125]
    ints = _sliced(["7", "-3", "12345678901"])
    assert inference.to_series(ints, "int", "i").tolist() == [7, -3, 12345678901]
    days = _sliced(["1992-09-01", "", "2020/01/02 03:04:05Z"])
    assert [str(v) for v in inference.to_series(days, "datetime", "d")] == [
        "1992-09-01 00:00:00",
        "NaT",
        "2020-01-02 03:04:05",
    ]
    flags = _sliced(["true", "", "0"])
    assert inference.to_series(flags, "bool", "b").tolist() == [True, None, False]


def test_headered_csv_with_empty_fields_reads_the_values_written(tmp_path):
    rows = [
        (
            i,
            "" if i % 3 == 0 else f"{i}.5",
            f"1992-09-{1 + i % 28:02d}",
            "" if i % 4 == 0 else f"name {i} " + "y" * (i % 7),
        )
        for i in range(200)
    ]
    text = "id,score,day,name\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in rows)
    root = tmp_path / "t"
    root.mkdir()
    (root / "a.csv").write_text(text)
    (root / "MLTable").write_text("paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {}\n")
    frame = pjob.data.read_table("mltable", str(root))
    assert frame["id"].tolist() == [r[0] for r in rows]
    assert frame["score"].fillna(-1).tolist() == [-1 if r[1] == "" else float(r[1]) for r in rows]
    assert [str(d.date()) for d in frame["day"]] == [r[2] for r in rows]
    assert frame["name"].tolist() == [r[3] or None for r in rows]
    plan = pjob.data.plan("mltable", str(root), "1kb", None)
    assert len(plan.mini_batches) > 2
    batches = [pjob.data.read_mini_batch(mb, os.fspath(tmp_path)) for mb in plan.mini_batches]
    assert [v for b in batches for v in b["name"].tolist()] == [r[3] or None for r in rows]
