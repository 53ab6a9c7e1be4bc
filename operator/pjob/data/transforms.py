"""Apply an MLTable's row/column steps to one slice of a table.

Called by ``pjob.data.tables`` for every slice (mini-batch reads, whole-table
reads, and the counting pass that plans tables with positional steps). The
steps arrive validated and normalised by ``pjob.data.mltable_steps``.

Positional steps (``take``, ``skip``, ``take_random_sample``) depend on a
row's position in the whole table, so each slice is given ``offsets``: for
each positional step, how many rows entered that step in earlier slices.
``apply`` returns how many rows entered each positional step in this slice,
so the caller can carry the offsets forward. The random sample keeps row
``i`` when a hash of ``(seed, i)`` falls under the probability, so the same
rows are kept however the table is sliced.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from pjob.data import mltable, mltable_steps, partition_format
from pjob.spec import errors


def positional_count(steps: list[dict[str, Any]]) -> int:
    return sum(1 for s in steps if s["name"] in mltable.POSITIONAL_STEPS)


def apply(frame, steps: list[dict[str, Any]], offsets: list[int], path: str):
    """``(frame, entering)`` after every step; see the module docstring."""
    entering: list[int] = []
    k = 0
    for step in steps:
        name, args = step["name"], step["args"]
        if name in mltable.POSITIONAL_STEPS:
            before, n = offsets[k], len(frame)
            entering.append(n)
            if name == "take":
                frame = frame.iloc[: max(0, min(n, args - before))]
            elif name == "skip":
                frame = frame.iloc[max(0, min(n, args - before)) :]
            else:
                frame = frame[_sample_mask(before, n, args["probability"], args["seed"])]
            k += 1
        elif name in ("drop_columns", "keep_columns"):
            chosen = _select(frame, args, name)
            keep = [c for c in frame.columns if (c in chosen) == (name == "keep_columns")]
            frame = frame[keep]
        elif name == "extract_columns_from_partition_format":
            frame = _extract(frame, args["partition_format"], path)
        elif name == "convert_column_types":
            frame = frame.copy()
            for conversion in args:
                for column in conversion["columns"]:
                    _require(frame, column, name)
                    frame[column] = convert(frame[column], conversion)
        elif name == "filter":
            frame = frame[evaluate_filter(frame, args)]
    return frame.reset_index(drop=True), entering


def _sample_mask(start: int, n: int, probability: float, seed: int):
    import numpy

    index = numpy.arange(start, start + n, dtype=numpy.uint64)
    x = index + numpy.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    x = (x ^ (x >> numpy.uint64(30))) * numpy.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> numpy.uint64(27))) * numpy.uint64(0x94D049BB133111EB)
    x = x ^ (x >> numpy.uint64(31))
    return (x >> numpy.uint64(11)).astype(numpy.float64) / float(1 << 53) < probability


def _select(frame, args: dict[str, Any], step: str) -> set[str]:
    if "pattern" in args:
        rx = re.compile(args["pattern"])
        return {c for c in frame.columns if rx.search(str(c))}  # Azure: search, not full match
    for column in args["columns"]:
        _require(frame, column, step)
    return set(args["columns"])


def _require(frame, column: str, step: str) -> None:
    if column not in frame.columns:
        raise errors.UserError(
            f"{step}: column '{column}' does not exist (columns: {', '.join(map(str, frame.columns))})",
            field=f"transformations.{step}",
        )


def _extract(frame, fmt: str, path: str):
    import pandas

    values = partition_format.values_for(path, fmt)
    frame = frame.copy()
    for name, family in partition_format.column_families(fmt):
        value = values[name]
        if family == "datetime":
            frame[name] = pandas.Series([value] * len(frame), dtype="datetime64[ns]", index=frame.index)
        else:
            frame[name] = pandas.Series([value] * len(frame), dtype="object", index=frame.index)
    return frame


# --- convert_column_types -----------------------------------------------------------------
def convert(series, conversion: dict[str, Any]):
    """One column to int/float/string/boolean/datetime; unparseable values become null."""
    import pandas

    kind = conversion["type"]
    if kind == "string":
        return pandas.Series(
            [None if _null(v) else _as_text(v) for v in series], dtype="object", index=series.index, name=series.name
        )
    if kind in ("int", "float"):
        given = series.map(lambda v: None if _null(v) else (str(v).strip() if isinstance(v, str) else v))
        numbers = pandas.to_numeric(given, errors="coerce")
        if kind == "int":
            numbers = numbers.where(numbers.isna() | (numbers == numbers.round()))
        lost = numbers.isna() & given.notna()
        if lost.any():  # a value that is not a number would become a silent NaN
            bad = given[lost]
            raise errors.UserError(
                f"convert_column_types: value {bad.iloc[0]!r} of column '{series.name}' is not "
                f"{'a whole number' if kind == 'int' else 'a number'} ({int(lost.sum())} such value(s) in this "
                f"mini-batch); fix the data, or convert the column to string",
                field="transformations.convert_column_types",
            )
        if kind == "int":
            return numbers.astype("float64") if numbers.isna().any() else numbers.astype("int64")
        return numbers.astype("float64")
    if kind == "boolean":
        true_values = set(conversion.get("true_values") or ["true", "True", "TRUE", "1"])
        false_values = set(conversion.get("false_values") or ["false", "False", "FALSE", "0"])
        mismatch = conversion.get("mismatch_as", "error")

        def to_bool(v):
            if _null(v):
                return None
            text = _as_text(v)
            if text in true_values:
                return True
            if text in false_values:
                return False
            if mismatch == "error":
                raise errors.UserError(
                    f"convert_column_types: value {text!r} of column '{series.name}' is neither in true_values nor false_values; "
                    "add it or set mismatch_as: true/false",
                    field="transformations.convert_column_types",
                )
            return mismatch == "true"

        values = [to_bool(v) for v in series]
        return pandas.Series(values, dtype="object" if None in values else "bool", index=series.index, name=series.name)
    # datetime
    formats = conversion.get("formats") or []

    def to_dt(v):
        if _null(v):
            return None
        if not isinstance(v, str):
            return pandas.Timestamp(v)
        for fmt in formats:
            try:
                return pandas.to_datetime(v.strip(), format=fmt)
            except (ValueError, TypeError):
                continue
        if not formats:
            try:
                return pandas.Timestamp(v.strip())
            except ValueError:
                return None
        return None

    return pandas.Series([to_dt(v) for v in series], index=series.index, name=series.name, dtype="datetime64[ns]")


def _null(v) -> bool:
    import pandas

    return v is None or (not isinstance(v, (list, dict, str)) and bool(pandas.isna(v)))


def _as_text(v) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float) and v.is_integer():
        return str(v)
    return str(v)


# --- filter -------------------------------------------------------------------------------
def evaluate_filter(frame, expression: str):
    """A boolean mask of the rows the expression keeps (nulls never match)."""
    import pandas

    tree = mltable_steps.parse_filter(expression)
    result = _eval(tree.body, frame)
    if not isinstance(result, pandas.Series):
        return pandas.Series([bool(result)] * len(frame), index=frame.index)
    return result.fillna(False).astype(bool)


def _eval(node: ast.AST, frame):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return {"True": True, "False": False, "None": None}[node.id]
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):  # col("name")
            first = node.args[0]
            name = first.value if isinstance(first, ast.Constant) else None
            assert isinstance(name, str)  # mltable_steps.check_filter_expression: col() takes one string
            _require(frame, name, "filter")
            return frame[name]
        assert isinstance(node.func, ast.Attribute)  # col(...).startswith/endswith/contains("text")
        target = _eval(node.func.value, frame)
        arg = _eval(node.args[0], frame)
        text = target.astype("object").where(target.notna(), None).map(lambda v: v if v is None else str(v))
        method = node.func.attr
        if method == "contains":
            return text.map(lambda v: v is not None and str(arg) in v)
        return text.map(lambda v: v is not None and getattr(v, method)(str(arg)))
    if isinstance(node, ast.BoolOp):
        parts = [_as_mask(_eval(v, frame), frame) for v in node.values]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if isinstance(node.op, ast.And) else (out | part)
        return out
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, frame)
        if isinstance(node.op, ast.Not):
            return ~_as_mask(value, frame)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, frame), _eval(node.right, frame)
        ops = {
            ast.Add: lambda a, b: a + b,
            ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b,
            ast.Div: lambda a, b: a / b,
            ast.Mod: lambda a, b: a % b,
        }
        return ops[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        out = None
        left = _eval(node.left, frame)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, frame)
            part = _as_mask(_compare(left, op, right), frame)
            out = part if out is None else (out & part)
            left = right
        return out
    raise errors.UserError(f"filter: unsupported expression part {type(node).__name__}", field="transformations.filter")


def _compare(left, op, right):
    import operator

    import pandas

    fn = {
        ast.Eq: operator.eq,
        ast.NotEq: operator.ne,
        ast.Lt: operator.lt,
        ast.LtE: operator.le,
        ast.Gt: operator.gt,
        ast.GtE: operator.ge,
    }[type(op)]
    if fn in (operator.eq, operator.ne) and (right is None or left is None):  # col(...) == None tests for nulls
        series = left if right is None else right
        if isinstance(series, pandas.Series):
            return series.isna() if fn is operator.eq else series.notna()
    left, right = _align_datetimes(left, right), _align_datetimes(right, left)
    if (
        isinstance(left, pandas.Series)
        and left.dtype == object
        or isinstance(right, pandas.Series)
        and right.dtype == object
    ):
        series, other, flipped = (left, right, False) if isinstance(left, pandas.Series) else (right, left, True)

        def one(v, w):
            v_null = v is None or (isinstance(v, float) and v != v)
            if w is None:  # col(...) == None is a null test
                return (fn is operator.eq) == v_null if fn in (operator.eq, operator.ne) else False
            if v_null:
                return False
            try:
                return fn(w, v) if flipped else fn(v, w)
            except TypeError:
                return fn is operator.ne

        if isinstance(other, pandas.Series):
            return pandas.Series([one(v, w) for v, w in zip(series, other)], index=series.index)
        return series.map(lambda v: one(v, other))
    return fn(left, right)


def _align_datetimes(value, other):
    import pandas

    if isinstance(value, str) and isinstance(other, pandas.Series) and other.dtype.kind == "M":
        return pandas.Timestamp(value)
    return value


def _as_mask(value, frame):
    import pandas

    if isinstance(value, pandas.Series):
        return value.fillna(False).astype(bool)
    return pandas.Series([bool(value)] * len(frame), index=frame.index)
