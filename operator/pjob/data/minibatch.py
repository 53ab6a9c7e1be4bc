"""The MiniBatch descriptor and the Plan: the small, JSON-serialisable contract
between planning (``pjob.data``), the coordinators (``pjob.coord``) and the
workers (``pjob.engine``).

A descriptor names *where* a mini-batch's data is, never the data itself:

- ``kind="files"``: ``paths`` is a list of file locations (local paths or URLs).
- ``kind="table"``: exactly one source file ``path`` (a mini-batch never spans
  two files) plus one locator: ``byte_range`` ``[start, end)`` (CSV/JSONL,
  line-aligned), ``row_groups`` (Parquet) optionally narrowed by ``row_range``
  ``[start, end)`` (rows inside the selected row groups), or ``key_values``
  (partition_keys: a dict of column -> value; then ``paths`` lists every file
  that may hold that key). ``table`` carries the MLTable read settings
  (reader + transformations) needed to turn the slice into a DataFrame.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any


@dataclasses.dataclass
class MiniBatch:
    index: int
    kind: str  # "files" | "table"
    items: int  # files in the mini-batch, or rows (estimated for byte ranges: -1 = unknown)
    paths: list[str] = dataclasses.field(default_factory=list)
    path: str | None = None
    byte_range: tuple[int, int] | None = None
    row_groups: list[int] | None = None
    row_range: tuple[int, int] | None = None
    key_values: dict[str, Any] | None = None
    table: dict[str, Any] | None = None  # reader/transformations, see pjob.data.mltable

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if v is not None and v != []}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MiniBatch:
        d = dict(d)
        for k in ("byte_range", "row_range"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


def items_estimated(mb: MiniBatch) -> bool:
    """``mb.items`` is an estimate: rows of a CSV/JSON-lines byte range, from
    the sample's bytes per row, unless a counting pass ran (positional steps
    record ``offsets``). Workers report the rows they actually read."""
    return mb.kind == "table" and mb.byte_range is not None and "offsets" not in (mb.table or {})


@dataclasses.dataclass
class Plan:
    """Ordered mini-batches of one input. ``kind`` is files|table;
    ``columns`` is the table schema as ``[(name, dtype_family), ...]``;
    ``mini_batches`` is a list, or for a files plan a ``files.FileBatches``
    (made on demand, equal to the list it stands for)."""

    kind: str
    mini_batches: Sequence[MiniBatch]
    items: int = 0
    columns: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    source: str = ""
    empty_because: str = ""  # when nothing was planned from files that are not empty: why (e.g. only a header)
    skipped: str = (
        ""  # entries of the input that are not regular files (dangling symlinks, FIFOs, ...): how many, which
    )

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "items": self.items,
                "columns": [list(c) for c in self.columns],
                "source": self.source,
                "mini_batches": [mb.to_dict() for mb in self.mini_batches],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Plan:
        d = json.loads(text)
        return cls(
            kind=d["kind"],
            items=d.get("items", 0),
            columns=[tuple(c) for c in d.get("columns", [])],
            source=d.get("source", ""),
            mini_batches=[MiniBatch.from_dict(m) for m in d["mini_batches"]],
        )
