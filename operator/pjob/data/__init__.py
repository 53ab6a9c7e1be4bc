"""pjob.data: turn an input (folder, file, MLTable, object storage) into
mini-batch descriptors, and a descriptor back into data.

Public API (called by the engine, the local driver, the operator and
``pjob inspect``):

- ``plan(input_type, uri, mini_batch_size, partition_keys, *, datastores)``
  -> ``Plan`` of ``MiniBatch`` descriptors (never the data itself);
- ``read_mini_batch(mb, scratch_dir)`` -> ``list[str]`` of local paths (files)
  or a pandas DataFrame (tables);
- ``resolve_uri(uri, datastores)`` -> absolute local path or fsspec URL;
- ``read_table(input_type, uri, *, datastores)`` -> the whole table as a
  DataFrame (tests, ``pjob inspect --dump``).

Importing this package, and planning or reading a file input, never imports
pandas or pyarrow: table code lives in modules imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pjob.data import files, readfail, sizes, uris
from pjob.data.minibatch import MiniBatch, Plan
from pjob.data.uris import resolve_uri
from pjob.spec import errors

if TYPE_CHECKING:  # pragma: no cover
    import pandas

INPUT_TYPES = ("uri_folder", "uri_file", "mltable")

__all__ = ["INPUT_TYPES", "MiniBatch", "Plan", "plan", "read_mini_batch", "read_table", "resolve_uri"]


def plan(
    input_type: str,
    uri: str,
    mini_batch_size: str | int | None,
    partition_keys: list[str] | None,
    *,
    datastores: dict[str, str] | None = None,
) -> Plan:
    """Split one input into ordered mini-batch descriptors without loading it."""
    _check_type(input_type)
    location = uris.resolve_uri(uri, datastores)
    try:
        return _plan(input_type, uri, location, mini_batch_size, partition_keys, datastores)
    except errors.UserError:
        raise
    except OSError as exc:  # unreachable (DNS, network, permissions): name what could not be read
        where = exc.filename or location
        network = "" if uris.is_local(str(where)) else " and the network"
        raise errors.UserError(
            f"cannot read {where}: {readfail.describe(exc)}; check the path{network}", field="path"
        ) from exc


def _plan(input_type: str, uri: str, location: str, mini_batch_size, partition_keys, datastores) -> Plan:
    if input_type == "mltable":
        from pjob.data import mltable  # parses YAML only; no pandas

        table = mltable.load(location, datastores)
        if table is not None and table.reader is not None:
            from pjob.data import tables  # the only planning path that may touch pyarrow

            with readfail.in_table(table):  # a data file that cannot be read: exit 2 naming it
                return tables.plan_table(table, mini_batch_size, partition_keys)
        skipped: list = []
        if table is not None:
            paths = mltable.list_paths(table)
        else:
            paths, skipped = files.list_files_noting(location)
        source = location
    else:
        paths, skipped = files.list_files_noting(location)
        if input_type == "uri_file" and not files.is_file(location):
            raise errors.UserError(
                f"input '{uri}' is typed uri_file but is a folder; use type: uri_folder", field="type"
            )
        source = location
    if partition_keys:
        raise errors.UserError(
            "partition_keys needs a tabular input (an MLTable with a reader such as read_delimited); "
            f"'{uri}' is a list of files. Remove partition_keys or point the input at an MLTable",
            field="partition_keys",
        )
    per_batch = sizes.files_per_batch(mini_batch_size)
    batches = files.plan_files(paths, per_batch)
    return Plan(
        kind="files", mini_batches=batches, items=len(paths), source=source, skipped=files.describe_skipped(skipped)
    )


def read_mini_batch(mb: MiniBatch, scratch_dir: str) -> list[str] | pandas.DataFrame:
    """Materialise one descriptor: local file paths, or the table slice."""
    if mb.kind == "files":
        return files.materialise(mb.paths, scratch_dir)
    if mb.kind == "table":
        from pjob.data import mltable, tables

        with readfail.in_table(mltable.Table.from_dict((mb.table or {}).get("mltable") or {"base": "", "paths": []})):
            return tables.read_slice(mb)
    raise ValueError(f"unknown mini-batch kind {mb.kind!r}")


def read_table(input_type: str, uri: str, *, datastores: dict[str, str] | None = None) -> pandas.DataFrame:
    """The whole input as one DataFrame (a file list becomes one column ``path``)."""
    _check_type(input_type)
    location = uris.resolve_uri(uri, datastores)
    import pandas

    if input_type == "mltable":
        from pjob.data import mltable

        table = mltable.load(location, datastores)
        if table is not None and table.reader is not None:
            from pjob.data import tables

            with readfail.in_table(table):
                return tables.read_whole(table)
        paths = mltable.list_paths(table) if table is not None else files.list_files(location)
    else:
        paths = files.list_files(location)
    return pandas.DataFrame({"path": pandas.Series(paths, dtype="object")})


def _check_type(input_type: str) -> None:
    if input_type not in INPUT_TYPES:
        raise errors.UserError(
            f"input type '{input_type}' is not supported; use one of {', '.join(INPUT_TYPES)}", field="type"
        )
