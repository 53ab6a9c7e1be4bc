"""Read an ``MLTable`` YAML file into a small, JSON-serialisable description
(``Table``), and list the files its ``paths`` section names.

Called by ``pjob.data.plan`` / ``read_table`` / ``pjob inspect``. Only YAML is
read here (no pandas): the description travels inside every table
``MiniBatch`` (``MiniBatch.table``) so a worker can rebuild the reader and the
transformations from the descriptor alone.

Layout of ``Table.to_dict()``::

    {"base": <MLTable folder>, "paths": [{"file"|"folder"|"pattern": ...}],
     "reader": {"name": "read_delimited", ...options with defaults...} | None,
     "steps": [{"name": "take", "args": 10}, ...]}

Every option and step is checked here; anything pjob does not implement is a
``UserError`` naming the transformation (never silently ignored).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

from pjob.data import files, globs, uris
from pjob.spec import errors

# pjob.spec.yamlio (PyYAML) is imported where an MLTable file is parsed, not here: workers read
# tables from descriptors without it, also under a step's own interpreter (pjob run --python)

MLTABLE_FILE = "MLTable"

READER_DEFAULTS: dict[str, dict[str, Any]] = {
    "read_delimited": {
        "delimiter": ",",
        "encoding": "utf8",
        "header": "all_files_same_headers",
        "empty_as_string": False,
        "include_path_column": False,
        "path_column": "Path",
        "infer_column_types": True,
        "support_multi_line": False,
    },
    "read_parquet": {"include_path_column": False, "path_column": "Path"},
    "read_json_lines": {
        "encoding": "utf8",
        "invalid_lines": "error",
        "include_path_column": False,
        "path_column": "Path",
    },
}
# options Azure accepts that only tune its own engine; accepted and documented as no-ops
READER_TUNING_OPTIONS = {"partition_size"}
HEADER_MODES = ("all_files_same_headers", "from_first_file", "all_files_different_headers", "no_header")
# Azure encoding names (lower-cased, without '-'/'_') -> Python codec
ENCODINGS = {
    "utf8": "utf-8",
    "ascii": "ascii",
    "latin1": "latin-1",
    "iso88591": "latin-1",
    "utf16": "utf-16",
    "windows1252": "cp1252",
    "cp1252": "cp1252",
    "utf8bom": "utf-8-sig",
}
# traits (index/timestamp columns) and metadata describe the table; they do not change what is read
TOP_LEVEL_KEYS = {"$schema", "type", "metadata", "traits", "paths", "transformations"}
STEPS = (
    "take",
    "skip",
    "take_random_sample",
    "drop_columns",
    "keep_columns",
    "extract_columns_from_partition_format",
    "convert_column_types",
    "filter",
)
# steps whose result for a row depends on the row's position in the whole table
POSITIONAL_STEPS = ("take", "skip", "take_random_sample")
UNSUPPORTED = {
    "read_delta_lake": "Delta Lake tables are not supported; export the table to Parquet and use read_parquet"
}


@dataclasses.dataclass
class Table:
    base: str  # folder holding the MLTable file (local path or URL)
    paths: list[dict[str, str]]
    reader: dict[str, Any] | None
    steps: list[dict[str, Any]]
    file: str = ""  # the MLTable file itself, for error messages

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "paths": self.paths, "reader": self.reader, "steps": self.steps, "file": self.file}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Table:
        return cls(
            base=d["base"], paths=d["paths"], reader=d.get("reader"), steps=d.get("steps", []), file=d.get("file", "")
        )

    @property
    def positional(self) -> bool:
        return any(step["name"] in POSITIONAL_STEPS for step in self.steps)


def find_file(location: str) -> str | None:
    """The MLTable file for a folder (or the file itself), or None."""
    if uris.is_local(location):
        if os.path.isfile(location):
            return location if os.path.basename(location) == MLTABLE_FILE else None
        candidate = os.path.join(location, MLTABLE_FILE)
        return candidate if os.path.isfile(candidate) else None
    fs, inner = uris.filesystem(location)
    if inner.rstrip("/").endswith("/" + MLTABLE_FILE) and fs.isfile(inner):
        return location
    candidate = location.rstrip("/") + "/" + MLTABLE_FILE
    fs, inner = uris.filesystem(candidate)
    return candidate if fs.isfile(inner) else None


def load(location: str, datastores: dict[str, str] | None = None) -> Table | None:
    """Parse the MLTable file of ``location``; None when there is none."""
    path = find_file(location)
    if path is None:
        return None
    from pjob.spec import yamlio

    doc, lines = yamlio.parse_yaml(_read_text(path), path)  # a syntax error names its line
    base = path[: -len(MLTABLE_FILE)].rstrip("/\\") or "/"
    try:
        table = parse(doc or {}, base=base, file=path, datastores=datastores)
        _check_local_file_entries(doc, table)
    except errors.UserError as exc:  # name the line of the field each problem is about
        raise errors.UserError([_with_line(p, path, lines) for p in exc.problems]) from None
    return table


def _check_local_file_entries(doc: dict, table: Table) -> None:
    """A local ``file:`` entry naming a folder: found here, so ``pjob validate``
    says it at the MLTable's line instead of ``pjob run`` when it lists files."""
    for i, entry in enumerate(table.paths):
        kind, value = next(iter(entry.items()))
        if kind == "file" and uris.is_local(value) and os.path.isdir(value):
            raw = doc["paths"][i]["file"]
            raise errors.UserError(
                f"'{value}' is a folder; write 'folder: {raw}' (every file in it) or name one file",
                file=table.file,
                field=f"paths[{i}].file",
            )


def _with_line(problem: errors.Problem, path: str, lines) -> errors.Problem:
    from pjob.spec import yamlio

    if problem.file != path or problem.line is not None:
        return problem
    keys = tuple(int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", problem.field or ""))
    return dataclasses.replace(problem, line=yamlio.line_of(lines, keys))


def parse(doc: Any, *, base: str, file: str = "MLTable", datastores: dict[str, str] | None = None) -> Table:
    """Validate an MLTable document (already YAML-decoded); pure."""
    if not isinstance(doc, dict):
        raise errors.UserError(
            "the MLTable file must be a mapping with 'paths' and optional 'transformations'", file=file
        )
    if "query_source" in doc:
        raise errors.UserError(
            "query_source (a SQL query as the table) is not supported by pjob; export the query result "
            "to files and list them under paths",
            file=file,
            field="query_source",
        )
    unknown = sorted(set(doc) - TOP_LEVEL_KEYS)
    if unknown:
        raise errors.UserError(
            f"unknown key(s) {unknown}; an MLTable has {', '.join(sorted(TOP_LEVEL_KEYS))}", file=file, field=unknown[0]
        )
    paths = _parse_paths(doc.get("paths"), file, base, datastores)
    reader: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = []
    raw_steps = doc.get("transformations") or []
    if not isinstance(raw_steps, list):
        raise errors.UserError("must be a list of steps", file=file, field="transformations")
    for i, raw in enumerate(raw_steps):
        name, args = _split_step(raw, file, i)
        field = f"transformations[{i}].{name}"
        if name in UNSUPPORTED:
            raise errors.UserError(
                f"transformation '{name}' is not supported by pjob: {UNSUPPORTED[name]}", file=file, field=field
            )
        if name in READER_DEFAULTS:
            if reader is not None:
                raise errors.UserError(
                    f"a second reader '{name}'; an MLTable has at most one read_* step", file=file, field=field
                )
            if steps:
                raise errors.UserError(
                    f"the reader '{name}' must come before other transformations", file=file, field=field
                )
            reader = _parse_reader(name, args, file, field)
        elif name in STEPS:
            steps.append({"name": name, "args": _check_step(name, args, file, field)})
        else:
            known = ", ".join(list(READER_DEFAULTS) + list(STEPS))
            raise errors.UserError(
                f"transformation '{name}' is not supported by pjob (supported: {known})", file=file, field=field
            )
    if reader is None and steps:
        raise errors.UserError(
            f"transformation '{steps[0]['name']}' needs a table, but this MLTable has no reader (read_delimited, "
            "read_parquet or read_json_lines), so it is a list of files; add a reader or remove the step",
            file=file,
            field="transformations",
        )
    return Table(base=base, paths=paths, reader=reader, steps=steps, file=file)


def list_paths(table: Table) -> list[str]:
    """Every file the ``paths`` section names, in section order, each entry's files sorted."""
    found: list[str] = []
    for entry in table.paths:
        kind, value = next(iter(entry.items()))
        if kind == "file":
            listed = files.list_files(value)
            if len(listed) != 1 or listed[0] != value:
                raise errors.UserError(
                    f"file '{value}' is a folder; write 'folder:' instead", file=table.file, field="paths"
                )
            found.extend(listed)
        elif kind == "folder":
            found.extend(p for p in files.list_files(value) if p != table.file)
        else:
            found.extend(p for p in globs.match(value) if p != table.file)
    return found


def _parse_paths(raw: Any, file: str, base: str, datastores: dict[str, str] | None) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise errors.UserError(
            "must be a non-empty list of {file: ...}, {folder: ...} or {pattern: ...}", file=file, field="paths"
        )
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in ("file", "folder", "pattern"):
            raise errors.UserError(
                "each entry is one of {file: PATH}, {folder: PATH}, {pattern: GLOB}", file=file, field=f"paths[{i}]"
            )
        kind, value = next(iter(entry.items()))
        if not isinstance(value, str) or not value:
            raise errors.UserError(f"'{kind}' needs a path string", file=file, field=f"paths[{i}].{kind}")
        out.append({kind: _absolute(value, base, datastores)})
    return out


def _absolute(value: str, base: str, datastores: dict[str, str] | None) -> str:
    """Paths in an MLTable are relative to its folder unless they are URLs or absolute."""
    if value.startswith(("azureml://", "file:")) or not uris.is_local(value):
        return uris.resolve_uri(value, datastores)
    if os.path.isabs(value):
        return os.path.normpath(value)
    return uris.join(base, value.replace("\\", "/").removeprefix("./"))


def _split_step(raw: Any, file: str, i: int) -> tuple[str, Any]:
    if isinstance(raw, str):
        return raw, None
    if isinstance(raw, dict) and len(raw) == 1:
        return next(iter(raw.items()))
    raise errors.UserError(
        "each transformation is a one-key mapping such as '- take: 10'", file=file, field=f"transformations[{i}]"
    )


def _parse_reader(name: str, args: Any, file: str, field: str) -> dict[str, Any]:
    options = dict(READER_DEFAULTS[name])
    args = args or {}
    if not isinstance(args, dict):
        raise errors.UserError("reader options must be a mapping", file=file, field=field)
    for key, value in args.items():
        if key in READER_TUNING_OPTIONS:
            continue
        if key not in options:
            raise errors.UserError(
                f"option '{key}' of {name} is not supported by pjob (supported: {', '.join(options)})",
                file=file,
                field=f"{field}.{key}",
            )
        options[key] = value
    if "encoding" in options:
        encoding = str(options["encoding"]).lower().replace("-", "").replace("_", "").replace(" ", "")
        if encoding not in ENCODINGS:
            raise errors.UserError(
                f"encoding '{options['encoding']}' is not supported (use one of {', '.join(ENCODINGS)})",
                file=file,
                field=f"{field}.encoding",
            )
        options["encoding"] = ENCODINGS[encoding]
    if name == "read_delimited":
        if options["header"] not in HEADER_MODES:
            raise errors.UserError(
                f"header '{options['header']}' is not one of {', '.join(HEADER_MODES)}",
                file=file,
                field=f"{field}.header",
            )
        if not isinstance(options["delimiter"], str) or len(options["delimiter"]) != 1:
            raise errors.UserError("delimiter must be a single character", file=file, field=f"{field}.delimiter")
    if name == "read_json_lines" and options["invalid_lines"] not in ("error", "drop"):
        raise errors.UserError("invalid_lines must be 'error' or 'drop'", file=file, field=f"{field}.invalid_lines")
    if isinstance(options.get("infer_column_types"), dict):
        options["type_overrides"] = _type_overrides(options["infer_column_types"], file, f"{field}.infer_column_types")
        options["infer_column_types"] = True
    for flag in ("empty_as_string", "include_path_column", "infer_column_types", "support_multi_line"):
        if flag in options and not isinstance(options[flag], bool):
            raise errors.UserError(f"{flag} must be true or false", file=file, field=f"{field}.{flag}")
    options["name"] = name
    return options


def _type_overrides(spec: dict[str, Any], file: str, field: str) -> list[dict[str, Any]]:
    """``infer_column_types: {sample_size, column_type_overrides}``: the overrides,
    normalised like convert_column_types (sample_size only tunes Azure's sampler)."""
    unknown = set(spec) - {"sample_size", "column_type_overrides"}
    if unknown:
        raise errors.UserError(
            f"unknown option(s) {sorted(unknown)}; use sample_size and column_type_overrides", file=file, field=field
        )
    overrides = spec.get("column_type_overrides") or []
    if not overrides:
        return []
    return _check_step("convert_column_types", overrides, file, f"{field}.column_type_overrides")


def _check_step(name: str, args: Any, file: str, field: str) -> Any:
    """Validate one row/column step's arguments; return them normalised."""
    from pjob.data import mltable_steps  # pure validators, no pandas

    return mltable_steps.check(name, args, file, field)


def _read_text(path: str) -> str:
    if uris.is_local(path):
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    fs, inner = uris.filesystem(path)
    with fs.open(inner, "rb") as fh:
        return fh.read().decode("utf-8")
