"""``pjob.data.readfail``: library errors become messages naming the data
file; reader problems are placed at the MLTable line of their step."""

import errno

import pytest
from pjob.data import mltable, readfail
from pjob.spec import errors


def _table(tmp_path, text):
    (tmp_path / "MLTable").write_text(text)
    return mltable.load(str(tmp_path))


def test_a_library_error_names_the_data_file(tmp_path):
    with pytest.raises(readfail.DataReadError) as info:
        with readfail.reading("/data/x.parquet"):
            raise ValueError("Parquet magic bytes not found in footer.\nmore detail")
    text = str(info.value)
    assert text.startswith(
        "data file /data/x.parquet cannot be read: ValueError: Parquet magic bytes not found in footer"
    )
    assert "replace or remove the file" in text and "more detail" not in text


def test_an_os_error_says_its_reason_once():
    exc = OSError(errno.EACCES, "Permission denied", "/data/x.csv")
    assert readfail.describe(exc) == "PermissionError: Permission denied"


def test_our_own_bugs_are_not_called_data_errors():
    with pytest.raises(TypeError):
        with readfail.reading("/data/x.csv"):
            raise TypeError("a pjob bug")


def test_a_step_problem_is_placed_at_its_mltable_line(tmp_path):
    table = _table(
        tmp_path,
        "paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n"
        "  - convert_column_types:\n      - columns: a\n        column_type: int\n",
    )
    exc = readfail.DataReadError(
        "/d/x.csv", "value 'three' is not a whole number", "transformations.convert_column_types"
    )
    placed = readfail.placed(table, exc)
    p = placed.problems[0]
    assert (p.file, p.line, p.field) == (table.file, 6, "transformations[1].convert_column_types")
    assert "/d/x.csv" in p.message


def test_a_step_field_of_the_job_is_left_for_the_job_yaml(tmp_path):
    table = _table(tmp_path, "paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n")
    exc = errors.UserError("must be greater than 0", field="mini_batch_size")
    assert readfail.placed(table, exc).problems[0].file is None
