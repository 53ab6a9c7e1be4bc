"""Tabular MLTable inputs: plan mini-batches by approximate bytes, read one
mini-batch, read the whole table.

Called by ``pjob.data.plan`` / ``read_mini_batch`` / ``read_table`` (and so by
the engine, the local driver and ``pjob inspect``).

Planning never loads the table:
- delimited text and JSON lines are cut into line-aligned byte ranges by
  seeking (with ``support_multi_line`` the file is streamed once counting
  quote characters, so a cut never lands inside a quoted field);
- Parquet is cut by row groups read from the footer, and a row group larger
  than the target is cut into row ranges, so a single-row-group file splits;
- a mini-batch never spans two files;
- the column types are inferred from a sample (the head of each file, up to
  ``SAMPLE_BYTES`` each) and written into every descriptor, so all
  mini-batches and the whole-table read share one schema;
- positional steps (take/skip/take_random_sample) need to know where each
  slice starts in the whole table: then planning streams the slices once,
  one at a time, to count rows (and stops early once a ``take`` is full).
"""

from __future__ import annotations

from typing import Any

from pjob.data import csvtext, inference, mltable, parquet, readers, readfail, sizes, slicing, transforms
from pjob.data.minibatch import MiniBatch, Plan

SAMPLE_BYTES = 1 << 20
SAMPLE_TOTAL_BYTES = 64 << 20


def plan_table(table: mltable.Table, mini_batch_size, partition_keys: list[str] | None) -> Plan:
    paths = mltable.list_paths(table)
    schema, headers, row_bytes = infer_schema(table, paths)
    columns = final_columns(table, schema, headers, paths)
    if partition_keys:
        from pjob.data import partition

        batches = partition.plan_by_keys(table, paths, schema, headers, list(partition_keys), columns)
        return Plan(
            kind="table",
            mini_batches=batches,
            items=sum(mb.items for mb in batches),
            columns=columns,
            source=table.base,
        )
    target = sizes.table_bytes(mini_batch_size)
    batches = []
    for path in paths:
        for locator in slice_file(
            table, path, target, row_bytes, skip_header=skips_header(table.reader or {}, path, paths)
        ):
            settings = _settings(table, schema, headers, paths, path, locator)
            batches.append(MiniBatch(index=len(batches), kind="table", path=path, table=settings, **locator))
    if table.positional:
        batches = _count_positional(table, batches)
    known = all(mb.items >= 0 for mb in batches)  # byte ranges carry estimates; exact after a counting pass
    return Plan(
        kind="table",
        mini_batches=batches,
        items=sum(mb.items for mb in batches) if known else -1,
        columns=columns,
        source=table.base,
        empty_because=_why_empty(table, paths, headers) if not batches else "",
    )


def _why_empty(table: mltable.Table, paths: list[str], headers: dict[str, list[str]]) -> str:
    """Why files that exist gave no mini-batch (pure over what planning read):
    delimited files that hold only their header line say so."""
    if (table.reader or {}).get("name") != "read_delimited" or not paths:
        return ""
    only_header = [p for p in paths if headers.get(p)]
    if not only_header:
        return ""
    names = ", ".join(p.rsplit("/", 1)[-1] for p in only_header[:3]) + (" ..." if len(only_header) > 3 else "")
    return f"{names}: only a header line ({', '.join(map(str, headers[only_header[0]]))}), no rows"


def read_slice(mb: MiniBatch):
    """The DataFrame of one table mini-batch."""
    if mb.key_values is not None:
        from pjob.data import partition

        return partition.read_key_batch(mb)
    settings = mb.table or {}
    assert mb.path is not None  # a table mini-batch reads one file
    table = mltable.Table.from_dict(settings["mltable"])
    frame = _read_raw(table, settings, mb.path, mb)
    with readfail.reading(mb.path):  # a step that fails on this file's values names the file
        frame, _ = transforms.apply(
            frame, table.steps, settings.get("offsets") or [0] * transforms.positional_count(table.steps), mb.path
        )
    return frame


def read_whole(table: mltable.Table):
    """Every row of the table, in order, through every transformation."""
    import pandas

    paths = mltable.list_paths(table)
    schema, headers, _ = infer_schema(table, paths)
    offsets = [0] * transforms.positional_count(table.steps)
    frames = []
    for path in paths:
        settings = _settings(table, schema, headers, paths, path, {})
        frame = _read_raw(table, settings, path, MiniBatch(index=0, kind="table", items=-1, path=path))
        with readfail.reading(path):
            frame, entering = transforms.apply(frame, table.steps, offsets, path)
        offsets = [o + e for o, e in zip(offsets, entering)]
        frames.append(frame)
    if not frames:
        return _empty_frame(table, schema)
    return pandas.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


# --- slicing (pjob.data.slicing) -----------------------------------------------------------
slice_file = slicing.slice_file
skips_header = slicing.skips_header


def _count_positional(table: mltable.Table, batches: list[MiniBatch]) -> list[MiniBatch]:
    """Record where each slice starts for each positional step; drop slices left empty."""
    offsets = [0] * transforms.positional_count(table.steps)
    takes = [
        (k, s["args"])
        for k, s in enumerate(s for s in table.steps if s["name"] in mltable.POSITIONAL_STEPS)
        if s["name"] == "take"
    ]
    kept = []
    for mb in batches:
        if any(offsets[k] >= n for k, n in takes):
            break  # a full take passes nothing more
        assert mb.table is not None and mb.path is not None  # a table mini-batch of one file
        mb.table["offsets"] = list(offsets)
        frame = _read_raw(table, mb.table, mb.path, mb)
        frame, entering = transforms.apply(frame, table.steps, offsets, mb.path)
        offsets = [o + e for o, e in zip(offsets, entering)]
        mb.items = len(frame)
        if mb.items:
            kept.append(mb)
    for i, mb in enumerate(kept):
        mb.index = i
    return kept


# --- schema -------------------------------------------------------------------------------
def infer_schema(table: mltable.Table, paths: list[str]) -> tuple[list[list[str]], dict[str, list[str]], float]:
    """``(schema, headers, row_bytes)``: reader columns as ``[name, family]`` (before
    steps); for delimited text each sampled file's field names (others are read
    when planned); and the mean bytes per row of the sample (0 when unknown),
    used to estimate the rows of a byte range."""
    reader = table.reader or {}
    name = reader["name"]
    if name == "read_parquet":
        return _parquet_schema(paths), {}, 0.0
    budget = SAMPLE_TOTAL_BYTES
    values: dict[str, list] = {}
    headers: dict[str, list[str]] = {}
    sampled_bytes = sampled_rows = 0
    for i, path in enumerate(paths):
        if budget <= 0:
            break
        data = readers.read_bytes(path, 0, SAMPLE_BYTES + 1)
        budget -= len(data)
        partial = len(data) > SAMPLE_BYTES
        with readfail.reading(path):
            text = readers.decode_prefix(data[:SAMPLE_BYTES], reader["encoding"])
        sampled_bytes += min(len(data), SAMPLE_BYTES)
        if name == "read_json_lines":
            lines = text.split("\n")
            if partial:
                lines = lines[:-1]
            with readfail.reading(path):
                records = readers.json_records_from_lines(lines, reader, path)
            sampled_rows += len(records)
            for record in records:
                for key, value in record.items():
                    values.setdefault(key, []).append(value)
            continue
        rows = csvtext.records(text, reader["delimiter"], reader["support_multi_line"])
        if partial and rows:
            rows = rows[:-1]
        sampled_rows += len(rows)
        header, skip = _header_for(reader, i, path, rows, headers, paths)
        headers[path] = header
        for row in rows[1:] if skip else rows:
            names = header + [f"Column{k + 1}" for k in range(len(header), len(row))]
            for col, value in zip(names, row):
                values.setdefault(col, []).append(value)
            for col in names[len(row) :]:
                values.setdefault(col, []).append(None)  # a short row: null
        for col in header:
            values.setdefault(col, [])
    row_bytes = sampled_bytes / sampled_rows if sampled_rows else 0.0
    if name == "read_json_lines":

        def json_family(sample: list) -> str:  # ints with nulls or missing keys are float64 everywhere
            kind = readers.json_family(sample)
            return "float" if kind == "int" and (None in sample or len(sample) < sampled_rows) else kind

        return [[k, json_family(v)] for k, v in values.items()], {}, row_bytes
    if reader["header"] == "no_header":
        width = max((len(h) for h in headers.values()), default=0)
        names = [f"Column{k + 1}" for k in range(max(width, len([c for c in values if c.startswith("Column")])))]
        ordered = names
    else:
        ordered = list(values)

    def family(sample: list) -> str:
        if not reader["infer_column_types"]:
            return "string"
        kind = inference.infer_family(sample, reader["empty_as_string"])
        # an int column with nulls is float64 in pandas (and in Azure): say so up front, so
        # every mini-batch gets float64, not only those that happen to hold a null
        if kind == "int" and any(v is None or (v == "" and not reader["empty_as_string"]) for v in sample):
            return "float"
        return kind

    # overridden columns stay text here and are converted from text after reading
    overridden = {c for conversion in reader.get("type_overrides") or [] for c in conversion["columns"]}
    return (
        [[col, "string" if col in overridden else family(values.get(col, []))] for col in ordered],
        headers,
        row_bytes,
    )


def _header_for(
    reader, i: int, path: str, rows: list[list[str]], headers: dict[str, list[str]], paths: list[str]
) -> tuple[list[str], bool]:
    """This file's field names, and whether its first record is a header line."""
    mode = reader["header"]
    if mode == "no_header":
        width = max((len(r) for r in rows), default=0)
        return [f"Column{k + 1}" for k in range(width)], False
    own = [c.strip() for c in rows[0]] if rows else []
    if mode == "all_files_different_headers":
        return _dedupe(own), True
    first = headers.get(paths[0]) if i > 0 else None
    if first is None:
        first = _dedupe(own)
    if mode == "from_first_file":
        return first, i == 0
    return first, True  # all_files_same_headers


def _dedupe(names: list[str]) -> list[str]:
    out: list[str] = []
    for k, name in enumerate(names):
        name = name or f"Column{k + 1}"
        base, n = name, 1
        while name in out:
            name = f"{base}_{n}"
            n += 1
        out.append(name)
    return out


def _parquet_schema(paths: list[str]) -> list[list[str]]:
    schema: dict[str, str] = {}
    for path in paths[:64]:  # footers only; files beyond add columns at read time if they differ
        frame = parquet.parquet_frame(path, [], None, {"include_path_column": False})
        for col in frame.columns:
            schema.setdefault(str(col), inference.family_of_dtype(frame[col].dtype))
    return [[k, v] for k, v in schema.items()]


def final_columns(table: mltable.Table, schema, headers, paths: list[str]) -> list[tuple[str, str]]:
    """Column names and families after every step, from an empty read. With
    no step, no path column and no type override they are the reader's own
    columns: then pandas is not imported, so the driver of a job over a CSV
    never loads it (~90 MB resident for the whole job)."""
    reader = table.reader or {}
    names = [str(n) for n, _ in schema]
    if not table.steps and not reader.get("include_path_column") and not reader.get("type_overrides"):
        if len(set(names)) == len(names) and all(f in inference.FAMILIES for _, f in schema):
            return [(name, family) for name, (_, family) in zip(names, schema)]
    frame = _empty_frame(table, schema)
    if paths:
        frame, _ = transforms.apply(frame, table.steps, [0] * transforms.positional_count(table.steps), paths[0])
    families = dict((n, f) for n, f in schema)
    return [
        (str(c), families.get(c, "string") if frame[c].dtype == object else inference.family_of_dtype(frame[c].dtype))
        for c in frame.columns
    ]


def _empty_frame(table: mltable.Table, schema):
    import pandas

    reader = table.reader or {}
    columns = {name: inference.empty_series(family, name) for name, family in schema}
    frame = pandas.DataFrame(columns)
    if reader.get("include_path_column"):
        frame.insert(0, reader["path_column"], pandas.Series([], dtype="object"))
    return _apply_overrides(frame, reader)


# --- reading ------------------------------------------------------------------------------
def _settings(table, schema, headers, paths, path, locator) -> dict[str, Any]:
    settings: dict[str, Any] = {"mltable": table.to_dict(), "schema": schema}
    reader = table.reader or {}
    if reader.get("name") == "read_delimited":
        header = headers.get(path)
        if header is None:  # beyond the sample budget
            header = _header_for(reader, paths.index(path), path, [readers.header_of(path, reader)], headers, paths)[0]
        first = locator.get("byte_range", (0, 0))[0] == 0
        settings["header"] = header
        settings["skip_header"] = bool(first and skips_header(reader, path, paths))
    return settings


def _read_raw(table: mltable.Table, settings: dict[str, Any], path: str, mb: MiniBatch, only: list[str] | None = None):
    """One slice through the reader (no steps). ``only`` keeps just those columns
    (partition planning without steps), so the others are never converted."""
    reader = table.reader or {}
    schema = settings["schema"]
    name = reader["name"]
    if name == "read_parquet":
        frame = parquet.parquet_frame(path, mb.row_groups, mb.row_range, reader, columns=only)
        return frame if only else _conform_parquet(frame, schema, reader)
    start, end = mb.byte_range if mb.byte_range else (0, None)
    if name == "read_json_lines":
        return readers.json_frame(readers.json_records(path, start, end, reader), schema, reader, path, only)
    frame = readers.delimited_frame(
        path, start, end, reader, settings.get("header") or [], bool(settings.get("skip_header")), schema, only
    )
    return _apply_overrides(frame, reader)


def _apply_overrides(frame, reader):
    """read_delimited's ``infer_column_types.column_type_overrides``."""
    for conversion in reader.get("type_overrides") or []:
        for column in conversion["columns"]:
            if column in frame.columns:
                frame[column] = transforms.convert(frame[column], conversion)
    return frame


def _conform_parquet(frame, schema, reader):
    """Same column order in every slice; columns a file lacks are null."""
    import pandas

    lead = [reader["path_column"]] if reader.get("include_path_column") else []
    names = [n for n, _ in schema]
    for name, _family in schema:
        if name not in frame.columns:
            frame[name] = pandas.Series([None] * len(frame), dtype="object", index=frame.index)
    extra = [c for c in frame.columns if c not in names and c not in lead]
    return frame[lead + names + extra]
