"""Read row groups of one Parquet file (optionally a row range inside
them) into a DataFrame: the Parquet half of ``pjob.data.readers``, which
holds the shared file opening and the path column. Called by
``pjob.data.tables`` and ``pjob.data.slicing``.
"""

from __future__ import annotations

from typing import Any

from pjob.data import readers, readfail


@readfail.names_file
def parquet_row_groups(path: str) -> list[tuple[int, int]]:
    """``(rows, bytes on disk)`` of each row group, from the footer only."""
    import pyarrow.parquet

    with readers.open_binary(path) as fh:
        meta = pyarrow.parquet.ParquetFile(fh).metadata
        return [
            (
                meta.row_group(i).num_rows,
                sum(meta.row_group(i).column(c).total_compressed_size for c in range(meta.row_group(i).num_columns)),
            )
            for i in range(meta.num_row_groups)
        ]


def _row_range(pf, groups: list[int], row_range, columns, batch_rows: int = 65536):
    """Rows ``[start, end)`` of the selected row groups, streaming record batches so a
    slice of a huge row group never holds the whole group in memory."""
    import pyarrow

    start, end = row_range
    kept, seen = [], 0
    for batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups, columns=columns):
        lo, hi = max(start - seen, 0), min(end - seen, batch.num_rows)
        if hi > lo:
            kept.append(batch.slice(lo, hi - lo))
        seen += batch.num_rows
        if seen >= end:
            break
    if not kept:
        return pf.schema_arrow.empty_table() if columns is None else pf.schema_arrow.empty_table().select(columns)
    return pyarrow.Table.from_batches(kept)


@readfail.names_file
def parquet_frame(
    path: str,
    row_groups: list[int] | None,
    row_range: tuple[int, int] | None,
    opts: dict[str, Any],
    columns: list[str] | None = None,
):
    import pyarrow
    import pyarrow.parquet

    with readers.open_binary(path) as fh:
        pf = pyarrow.parquet.ParquetFile(fh)
        groups = list(range(pf.num_row_groups)) if row_groups is None else list(row_groups)
        if groups and row_range is not None:
            table = _row_range(pf, groups, row_range, columns)
        elif groups:
            table = pf.read_row_groups(groups, columns=columns)
        else:
            table = pf.schema_arrow.empty_table()
            if columns is not None:
                table = table.select(columns)
    frame = table.to_pandas()
    for name in frame.columns:
        dtype = frame[name].dtype
        if dtype.kind == "M" and getattr(dtype, "tz", None) is None and str(dtype) != "datetime64[ns]":
            frame[name] = frame[name].astype("datetime64[ns]")
    return readers.with_path(frame, path, opts)
