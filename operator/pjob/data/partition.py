"""``partition_keys``: one mini-batch per distinct combination of key values,
in sorted key order (nulls last), and the read of one such mini-batch.

Called by ``pjob.data.tables.plan_table`` / ``read_slice``. Planning reads as
little as it can: keys that all come from ``extract_columns_from_partition_format``
(and no row-changing step) are taken from folder names alone; otherwise each
file is read once, one at a time, keeping only the key columns (Parquet reads
only those columns when no step needs the others). A descriptor lists the
files that hold its key values, so a read opens only those.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from pjob.data import mltable, partition_format, readers, transforms
from pjob.data.minibatch import MiniBatch
from pjob.spec import errors

_ROW_CHANGING = ("filter", *mltable.POSITIONAL_STEPS)


def plan_by_keys(table: mltable.Table, paths: list[str], schema, headers, keys: list[str], columns) -> list[MiniBatch]:
    from pjob.data import tables

    names = [c for c, _ in columns]
    missing = [k for k in keys if k not in names]
    if missing:
        raise errors.UserError(
            f"partition_keys {missing} are not columns of the table (columns: {', '.join(names)})", field="partition_keys"
        )
    row_changing = any(s["name"] in _ROW_CHANGING for s in table.steps)
    folder_keys = {name for s in table.steps if s["name"] == "extract_columns_from_partition_format"
                   for name, _ in partition_format.column_families(s["args"]["partition_format"])}
    groups: dict[tuple, dict[str, int]] = {}  # key combination -> {path: rows}
    files: dict[str, dict[str, Any]] = {}
    offsets = [0] * transforms.positional_count(table.steps)
    for path in paths:
        settings = tables._settings(table, schema, headers, paths, path, {})
        files[path] = {k: settings[k] for k in ("header", "skip_header") if k in settings}
        files[path]["offsets"] = list(offsets)
        if set(keys) <= folder_keys and not row_changing:
            values = _folder_values(table, path)
            combo = tuple(_plain(values[k]) for k in keys)
            groups.setdefault(combo, {})[path] = -1
            continue
        frame = _read_keys(table, settings, path, keys, schema, row_changing)
        frame, entering = transforms.apply(frame, table.steps, offsets, path)
        offsets = [o + e for o, e in zip(offsets, entering)]
        for combo, count in frame[keys].apply(lambda row: tuple(_plain(v) for v in row), axis=1).value_counts(sort=False).items() if len(frame) else []:
            groups.setdefault(combo, {})[path] = int(count)
    batches = []
    base = {"mltable": table.to_dict(), "schema": schema}
    for i, combo in enumerate(sorted(groups, key=_sort_key)):
        holders = groups[combo]
        rows = sum(holders.values()) if all(v >= 0 for v in holders.values()) else -1
        batches.append(MiniBatch(
            index=i, kind="table", items=rows, paths=list(holders), key_values=dict(zip(keys, combo)),
            table={**base, "files": {p: files[p] for p in holders}},
        ))
    return batches


def read_key_batch(mb: MiniBatch):
    """Rows of every listed file whose key columns equal ``mb.key_values``."""
    import pandas

    from pjob.data import tables

    settings = mb.table or {}
    table = mltable.Table.from_dict(settings["mltable"])
    frames = []
    for path in mb.paths:
        per_file = {**settings, **settings.get("files", {}).get(path, {})}
        frame = tables._read_raw(table, per_file, path, MiniBatch(index=0, kind="table", items=-1, path=path))
        frame, _ = transforms.apply(frame, table.steps, per_file.get("offsets") or [0] * transforms.positional_count(table.steps), path)
        mask = pandas.Series(True, index=frame.index)
        for key, value in mb.key_values.items():
            mask &= frame[key].map(lambda v, want=value: _plain(v) == want)
        frames.append(frame[mask])
    if not frames:
        return tables._empty_frame(table, settings["schema"])
    return pandas.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


def _read_keys(table, settings, path: str, keys: list[str], schema, row_changing: bool):
    from pjob.data import tables

    reader = table.reader or {}
    raw = {name for name, _ in schema}
    if reader["name"] == "read_parquet" and not row_changing and set(keys) <= raw and not _renames(table):
        frame = readers.parquet_frame(path, None, None, {"include_path_column": False}, columns=keys)
        return frame
    frame = tables._read_raw(table, settings, path, MiniBatch(index=0, kind="table", items=-1, path=path))
    return frame


def _renames(table) -> bool:
    return any(s["name"] in ("convert_column_types", "extract_columns_from_partition_format") for s in table.steps)


def _folder_values(table, path: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for step in table.steps:
        if step["name"] == "extract_columns_from_partition_format":
            values.update(partition_format.values_for(path, step["args"]["partition_format"]))
    return values


def _plain(value):
    """A JSON-friendly, comparable form of one key value (nulls -> None)."""
    import pandas

    if value is None:
        return None
    if isinstance(value, (datetime.datetime, pandas.Timestamp)):
        return None if pandas.isna(value) else pandas.Timestamp(value).isoformat()
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _sort_key(combo: tuple) -> tuple:
    return tuple((v is None, type(v).__name__ if v is not None and not isinstance(v, (int, float)) else "", v if v is not None else 0) for v in combo)
