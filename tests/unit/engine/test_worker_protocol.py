"""The per-mini-batch lines between agent and worker: their fast paths give
exactly what the general ones give (a descriptor as ``manifest.descriptor``
reads it, what ``MiniBatch.from_dict(json.loads(line))`` gives; the "D" line
as the JSON encoder writes it)."""

from __future__ import annotations

import json

import pytest
from pjob.data.minibatch import MiniBatch
from pjob.engine import manifest, worker


@pytest.mark.parametrize(
    "line",
    [
        b'{"index":12,"kind":"files","items":1,"paths":["/data/doc000012.txt"]}',
        b'{"index":0,"kind":"files","items":2,"paths":["/a \\"quoted\\" \\u00e9.txt","s3://bucket/key"]}',
        b'{"index":1,"kind":"table","items":-1,"path":"/x.csv","byte_range":[0,100],"table":{"reader":"csv"}}',
        b'{"index":2,"kind":"table","items":5,"path":"/x.parquet","row_groups":[0,1],"row_range":[3,8]}',
        b'{"index":3,"kind":"files","items":1,"paths":["/k"],"key_values":{"a":1}}',
    ],
)
def test_descriptor_as_the_manifest_reads_it(line):
    assert manifest.descriptor(line) == MiniBatch.from_dict(json.loads(line))


def test_a_bad_descriptor_fails_as_before():
    with pytest.raises(json.JSONDecodeError):
        manifest.descriptor(b'{"index":1,')
    with pytest.raises(json.JSONDecodeError):  # extra data after a whole files descriptor
        manifest.descriptor(b'{"index":1,"kind":"files","items":1,"paths":["/a"]} x')


@pytest.mark.parametrize(
    "fields",
    [
        (12, 1, 1, 0, 0.000123456, 9.87e-05, None, None),
        (7, -1, 3, 0, 1234.5678, 1e16, None, None),
        (0, 0, 0, 0, 0.0, 0.0, None, "more returns than inputs"),
        (3, 5, 4, 1, 1e-7, 12.5, 'short "return"\nsecond line é', None),
    ],
)
def test_done_line_as_the_json_encoder_writes_it(fields):
    line = worker.done_line(*fields)
    assert line == (json.dumps(["D", *fields], separators=(",", ":")) + "\n").encode()
    assert json.loads(line) == ["D", *fields]
