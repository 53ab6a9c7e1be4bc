"""``partition_keys``: one mini-batch per distinct combination of key values,
in sorted key order (nulls last), and the read of one such mini-batch.

Called by ``pjob.data.tables.plan_table`` / ``read_slice``. Planning reads as
little as it can and never a whole file at once:
- keys that all come from ``extract_columns_from_partition_format`` (and no
  row-changing step) are taken from folder names alone;
- otherwise each file is scanned in chunks of ``SCAN_BYTES`` (byte ranges or row groups),
  converting only the key columns when the table has no steps (Parquet then
  reads only those columns), and counting key combinations with a groupby.
A descriptor lists, per file, only the chunks that hold its key values (with
the positional-step offsets of each chunk), so reading one key opens only
those chunks and holds one chunk plus the matching rows in memory.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from pjob.data import mltable, partition_format, transforms
from pjob.data.minibatch import MiniBatch
from pjob.spec import errors

SCAN_BYTES = 16 << 20
_ROW_CHANGING = ("filter", *mltable.POSITIONAL_STEPS)
_LOCATOR_KEYS = ("byte_range", "row_groups", "row_range")


def plan_by_keys(table: mltable.Table, paths: list[str], schema, headers, keys: list[str], columns) -> list[MiniBatch]:
    from pjob.data import tables

    names = [c for c, _ in columns]
    missing = [k for k in keys if k not in names]
    if missing:
        raise errors.UserError(
            f"partition_keys {missing} are not columns of the table (columns: {', '.join(names)})",
            field="partition_keys",
        )
    row_changing = any(s["name"] in _ROW_CHANGING for s in table.steps)
    folder_keys = {
        name
        for s in table.steps
        if s["name"] == "extract_columns_from_partition_format"
        for name, _ in partition_format.column_families(s["args"]["partition_format"])
    }
    # key combination -> path -> [rows (-1 = not counted), [chunk, ...]]
    groups: dict[tuple, dict[str, list]] = {}
    file_headers: dict[str, list[str] | None] = {}
    offsets = [0] * transforms.positional_count(table.steps)
    from_folders = set(keys) <= folder_keys and not row_changing
    for path in paths:
        file_headers[path] = tables._settings(table, schema, headers, paths, path, {}).get("header")
        if from_folders:  # no data read: every chunk of the file holds the folder's key values
            values = _folder_values(table, path)
            entry = groups.setdefault(tuple(_plain(values[k]) for k in keys), {}).setdefault(path, [-1, []])
        for locator in tables.slice_file(table, path, SCAN_BYTES):
            locator = {k: v for k, v in locator.items() if k in _LOCATOR_KEYS}
            settings = tables._settings(table, schema, headers, paths, path, locator)
            chunk = {**locator, "skip_header": settings.get("skip_header", False), "offsets": list(offsets)}
            if from_folders:
                entry[1].append(chunk)
                continue
            frame = _read_keys(table, settings, path, locator, keys)
            if table.steps:
                frame, entering = transforms.apply(frame, table.steps, offsets, path)
                offsets = [o + e for o, e in zip(offsets, entering)]
            if not len(frame):
                continue
            for raw, count in frame.groupby(keys, dropna=False, sort=False).size().items():
                combo = tuple(_plain(v) for v in (raw if isinstance(raw, tuple) else (raw,)))
                entry = groups.setdefault(combo, {}).setdefault(path, [0, []])
                entry[0] += int(count)
                entry[1].append(chunk)
    base = {"mltable": table.to_dict(), "schema": schema}
    batches = []
    for i, combo in enumerate(sorted(groups, key=_sort_key)):
        holders = groups[combo]
        rows = sum(r for r, _ in holders.values()) if all(r >= 0 for r, _ in holders.values()) else -1
        files = {p: {"header": file_headers[p], "chunks": chunks} for p, (_, chunks) in holders.items()}
        batches.append(
            MiniBatch(
                index=i,
                kind="table",
                items=rows,
                paths=list(holders),
                key_values=dict(zip(keys, combo)),
                table={**base, "files": files},
            )
        )
    return batches


def read_key_batch(mb: MiniBatch):
    """Rows whose key columns equal ``mb.key_values``, from the listed chunks, in table order."""
    import pandas

    from pjob.data import tables

    settings = mb.table or {}
    table = mltable.Table.from_dict(settings["mltable"])
    zero = [0] * transforms.positional_count(table.steps)
    frames = []
    for path in mb.paths:
        per_file = settings.get("files", {}).get(path, {})
        for chunk in per_file.get("chunks", []):
            locator: dict[str, Any] = {
                k: (tuple(v) if k != "row_groups" else v) for k, v in chunk.items() if k in _LOCATOR_KEYS
            }
            slice_settings = {
                **settings,
                "header": per_file.get("header"),
                "skip_header": chunk.get("skip_header", False),
            }
            frame = tables._read_raw(
                table, slice_settings, path, MiniBatch(index=0, kind="table", items=-1, path=path, **locator)
            )
            frame, _ = transforms.apply(frame, table.steps, chunk.get("offsets") or zero, path)
            mask = pandas.Series(True, index=frame.index)
            for key, value in (mb.key_values or {}).items():
                mask &= _key_mask(frame[key], value)
            frames.append(frame[mask])
    if not frames:
        return tables._empty_frame(table, settings["schema"])
    return pandas.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


def _read_keys(table, settings, path: str, locator: dict[str, Any], keys: list[str]):
    """One chunk with at least the key columns (only those when the table has no steps)."""
    from pjob.data import tables

    reader = table.reader or {}
    raw_keys = [k for k in keys if k != reader.get("path_column") or not reader.get("include_path_column")]
    only = None if table.steps or raw_keys != keys else keys
    frame = tables._read_raw(
        table, settings, path, MiniBatch(index=0, kind="table", items=-1, path=path, **locator), only
    )
    return frame if table.steps else frame[keys]


def _key_mask(series, value):
    """Vectorised ``_plain(v) == value`` for one key column."""
    import pandas

    if value is None:
        return series.isna()
    if series.dtype.kind == "M":
        return (series == pandas.Timestamp(value)).fillna(False).astype(bool)
    if series.dtype.kind in "biuf" or isinstance(value, (int, float)) and not isinstance(value, bool):
        return (series == value).fillna(False).astype(bool)
    return series.map(lambda v: _plain(v) == value).astype(bool)


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
    return tuple(
        (v is None, "" if v is None or isinstance(v, (int, float)) else type(v).__name__, v if v is not None else 0)
        for v in combo
    )
