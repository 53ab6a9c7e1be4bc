"""Errors while reading a data file, said as a user can act on them: which
data file, which MLTable line (the reader or the option involved), what went
wrong and how to fix it, never a pyarrow or pandas traceback.

``names_file`` wraps every function of ``pjob.data.readers`` and
``pjob.data.parquet`` that reads one
data file (its first argument is the path): whatever the libraries raise
about the file's content or access (OSError, ValueError, pyarrow and pandas
errors) becomes a ``DataReadError`` naming the file. ``in_table`` wraps the
public reads of ``pjob.data`` (planning, one mini-batch, the whole table)
and places such an error, and any reader problem that names no file, at the
MLTable's line. Planning then exits 2 (``pjob run`` / ``pjob inspect``); a
worker fails only the mini-batch it was reading (``LOAD_EXCEPTION``).
"""

from __future__ import annotations

import contextlib
import functools
import re

from pjob.spec import errors

FIX = "replace or remove the file, or fix the MLTable reader to match it"


class DataReadError(errors.UserError):
    """A data file could not be read; ``path`` is that file."""

    def __init__(self, path: str, detail: str, field: str = ""):
        self.path, self.detail = path, detail
        text = detail if path in detail else f"data file {path} cannot be read: {detail}"
        if not re.search(r";\s*(fix|set|replace|remove|use|give|write)\b", detail):
            text += f"; {FIX}"
        super().__init__(text, field=field)


def describe(exc: BaseException) -> str:
    """``Type: first line`` of a library exception (pure)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    first = lines[0].rstrip(".") if lines else ""
    if isinstance(exc, OSError) and exc.strerror:
        first = exc.strerror  # the path is said already
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def is_read_error(exc: BaseException) -> bool:
    """Errors that come from a file's content or from reaching it (pure):
    pyarrow's and pandas' own, OS errors, and the value/decoding errors
    their readers raise; not pjob bugs such as a TypeError of ours."""
    module = type(exc).__module__.partition(".")[0]
    return module in ("pyarrow", "pandas") or isinstance(exc, (OSError, ValueError, EOFError))


@contextlib.contextmanager
def reading(path: str):
    """Errors raised while reading ``path`` name it (see ``names_file``)."""
    try:
        yield
    except DataReadError:
        raise
    except errors.UserError as exc:
        if any(p.file for p in exc.problems):
            raise
        raise DataReadError(str(path), "; ".join(p.message for p in exc.problems), exc.problems[0].field) from None
    except Exception as exc:
        if not is_read_error(exc):
            raise
        raise DataReadError(str(path), describe(exc)) from exc


def names_file(func):
    """Decorator for a reader whose first argument is the data file's path."""

    @functools.wraps(func)
    def read(path, *args, **kwargs):
        with reading(path):
            return func(path, *args, **kwargs)

    return read


def reader_field(table, field: str) -> tuple[tuple, str]:
    """The MLTable key path and dotted field of a reader problem (pure).
    Problems raised below the MLTable parser name the reader generically
    (``transformations.read_delimited.encoding``); the reader is always the
    first transformation, so that is ``transformations[0].read_delimited...``;
    a later step is found by its name."""
    reader = (table.reader or {}).get("name") or "reader"
    parts = field.split(".") if field.startswith("transformations.") else ["transformations", reader]
    index = 0
    names = [step.get("name") for step in table.steps or []]
    if parts[1] != reader and parts[1] in names:  # a later step (convert_column_types, ...)
        index = names.index(parts[1]) + (1 if table.reader else 0)
    keys = ("transformations", index) + tuple(parts[1:])
    return keys, f"transformations[{index}]." + ".".join(parts[1:])


def _line(table, keys: tuple) -> int | None:
    """Line of ``keys`` in the MLTable file, or of the closest key above it
    that the file writes (an option left at its default is not in the file)."""
    from pjob.data import mltable
    from pjob.spec import yamlio

    try:
        _, lines = yamlio.parse_yaml(mltable._read_text(table.file), table.file)
    except (OSError, errors.UserError, UnicodeDecodeError):
        return None
    while keys:
        line = lines.get(keys)
        if line:
            return line
        keys = keys[:-1]
    return None


def placed(table, exc: errors.UserError) -> errors.UserError:
    """``exc`` with every reader problem that names no file put at the
    MLTable line of its field (problems about step fields such as
    mini_batch_size stay for the job YAML); a data-file problem keeps the
    data file in its message."""
    if table is None or not table.file:
        return exc
    problems = []
    for p in exc.problems:
        if p.file is None and (isinstance(exc, DataReadError) or (p.field or "").startswith("transformations")):
            keys, field = reader_field(table, p.field or "")
            p = errors.Problem(table.file, _line(table, keys), field, p.message)
        problems.append(p)
    out = errors.UserError(problems)
    if isinstance(exc, DataReadError):
        out.path = exc.path  # type: ignore[attr-defined]
    return out


@contextlib.contextmanager
def in_table(table):
    """Reads of ``table`` (an ``mltable.Table`` or None): problems that name no
    file are placed at its MLTable line; library errors not caught by
    ``names_file`` (e.g. while inferring types) name the MLTable's folder."""
    try:
        yield
    except errors.UserError as exc:
        raise placed(table, exc) from None
    except Exception as exc:
        if table is None or not is_read_error(exc):
            raise
        raise placed(table, DataReadError(f"the data of {table.base}", describe(exc))) from exc
