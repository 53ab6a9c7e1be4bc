"""``pjob inspect PATH``: show how an input splits into mini-batches; given
a job YAML, how each of its parallel steps will split (``inspect_job``).

Registered in ``pjob.cli`` (module ``pjob.data.inspect_cmd``). Prints the
input kind, item count, schema and mini-batch count, or with ``--json``::

    {"kind": "files"|"table", "items": N | null, "columns": [{"name": ..., "type": ...}],
     "mini_batches": [{"index": 0, "items": N | null, <locator>...}, ...]}

Rows of CSV/JSONL byte ranges are estimated from a sample (entries carry
``"estimated": true``); ``--dump-mini-batches`` reads the data, so then counts
are exact. ``items`` is null only when nothing could be estimated.
The input type is inferred when ``--type`` is omitted: a folder with an
``MLTable`` file (or the MLTable file itself) -> mltable, a file -> uri_file,
a folder -> uri_folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import pjob.data
from pjob.data import files, inspect_job, minibatch, mltable, uris


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        help="a job YAML (shows every parallel step's split), or an input: local path, file://, "
        "azureml://datastores/<ds>/paths/<p> or an fsspec URL",
    )
    parser.add_argument("--type", choices=pjob.data.INPUT_TYPES, help="input type (default: inferred)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--mini-batch-size", help='files per mini-batch ("10") or approximate size for tables ("10mb")')
    group.add_argument("--partition-keys", help="comma-separated key columns: one mini-batch per distinct combination")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument(
        "--dump", metavar="FILE.parquet", help="write the whole input as Parquet (file lists: one column 'path')"
    )
    parser.add_argument(
        "--dump-mini-batches",
        metavar="DIR",
        help="write each mini-batch as DIR/<index>.parquet (tables) or DIR/<index>.txt",
    )
    parser.add_argument(
        "--datastore",
        action="append",
        default=[],
        metavar="NAME=LOCATION",
        help="map a datastore name to a folder or URL (repeatable); default: ./pjob-runs/datastores/<name>",
    )


def main(args: argparse.Namespace) -> int:
    datastores = uris.parse_datastore_flags(args.datastore)
    if inspect_job.looks_like_job(args.path):  # a job YAML: every parallel step's split
        rows = inspect_job.inspect_job(args.path, datastores)
        sys.stdout.write(
            json.dumps(rows, indent=2, default=str) + "\n" if args.json else inspect_job.format_table(rows)
        )
        return 0
    input_type = args.type or infer_type(args.path, datastores)
    keys = [k.strip() for k in args.partition_keys.split(",") if k.strip()] if args.partition_keys else None
    plan = pjob.data.plan(input_type, args.path, args.mini_batch_size, keys, datastores=datastores)
    counts = [mb.items if mb.items >= 0 else None for mb in plan.mini_batches]
    estimated = [minibatch.items_estimated(mb) for mb in plan.mini_batches]
    if args.dump_mini_batches:
        counts = _dump_batches(plan, args.dump_mini_batches)
        estimated = [False] * len(counts)
    if args.dump:
        _dump_whole(input_type, args.path, datastores, args.dump)
    known = [c for c in counts if c is not None]
    total: int | None
    if len(known) == len(counts):
        total = sum(known)
    else:
        total = plan.items if plan.items >= 0 else None
    report = {
        "kind": plan.kind,
        "items": total,
        "columns": [{"name": name, "type": family} for name, family in plan.columns],
        "mini_batches": [_describe(mb, count, guess) for mb, count, guess in zip(plan.mini_batches, counts, estimated)],
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
    else:
        _print_text(report, plan.source, input_type, any(estimated))
    return 0


def infer_type(path: str, datastores: dict[str, str] | None = None) -> str:
    location = uris.resolve_uri(path, datastores)
    if mltable.find_file(location):
        return "mltable"
    if files.is_file(location):
        return "uri_file"
    return "uri_folder"


def _describe(mb, count, estimated: bool) -> dict:
    entry = {"index": mb.index, "items": count}
    if estimated:
        entry["estimated"] = True
    for key in ("paths", "path", "byte_range", "row_groups", "row_range", "key_values"):
        value = getattr(mb, key)
        if value not in (None, []):
            entry[key] = list(value) if isinstance(value, tuple) else value
    return entry


def _dump_batches(plan, folder: str) -> list[int | None]:
    os.makedirs(folder, exist_ok=True)
    counts: list[int | None] = []
    scratch = os.path.join(folder, ".scratch")
    for mb in plan.mini_batches:
        data = pjob.data.read_mini_batch(mb, scratch)
        if mb.kind == "files":
            with open(os.path.join(folder, f"{mb.index}.txt"), "w", encoding="utf-8") as fh:
                fh.writelines(p + "\n" for p in mb.paths)
            counts.append(len(data))
        else:
            assert not isinstance(data, list)  # a table mini-batch reads as a DataFrame
            data.to_parquet(os.path.join(folder, f"{mb.index}.parquet"), index=False)
            counts.append(len(data))
    return counts


def _dump_whole(input_type: str, path: str, datastores, target: str) -> None:
    frame = pjob.data.read_table(input_type, path, datastores=datastores)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    frame.to_parquet(target, index=False)


def _print_text(report: dict, source: str, input_type: str, estimated: bool) -> None:
    items = (
        "unknown"
        if report["items"] is None
        else (f"~{report['items']} (estimated from a sample)" if estimated else report["items"])
    )
    print(f"input:        {source}")
    print(f"type:         {input_type}  ({report['kind']})")
    print(f"items:        {items}")
    if report["columns"]:
        print("columns:")
        for column in report["columns"]:
            print(f"  {column['name']}: {column['type']}")
    batches = report["mini_batches"]
    print(f"mini-batches: {len(batches)}")
    for entry in batches[:5]:
        detail = {k: v for k, v in entry.items() if k not in ("index", "paths")}
        if "paths" in entry:
            detail["files"] = len(entry["paths"])
        print(f"  #{entry['index']}: {detail}")
    if len(batches) > 5:
        print(f"  ... {len(batches) - 5} more")
