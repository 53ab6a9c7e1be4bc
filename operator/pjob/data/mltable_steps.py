"""Validate and normalise the row/column steps of an MLTable
(``take``, ``skip``, ``take_random_sample``, ``drop_columns``,
``keep_columns``, ``extract_columns_from_partition_format``,
``convert_column_types``, ``filter``).

Called by ``pjob.data.mltable.parse`` while reading the MLTable file, so bad
arguments fail at planning time with the file and the transformation named.
Pure: no pandas. ``pjob.data.transforms`` applies the normalised steps.

Normalised shapes:
- take / skip: ``int >= 0``
- take_random_sample: ``{"probability": float in (0, 1], "seed": int}``
  (seed defaults to 0 so every worker draws the same sample)
- drop_columns / keep_columns: ``{"columns": [names]}`` or ``{"pattern": regex}``
- extract_columns_from_partition_format: ``{"partition_format": str}``
- convert_column_types: ``[{"columns": [names], "type": int|float|string|boolean|datetime,
  "formats": [...], "true_values": [...], "false_values": [...], "mismatch_as": ...}]``
- filter: the expression string (checked against the supported subset)
"""

from __future__ import annotations

import ast
import re
from typing import Any

from pjob.spec import errors

COLUMN_TYPES = ("int", "float", "string", "boolean", "datetime")
_TYPE_ALIASES = {
    "integer": "int",
    "long": "int",
    "double": "float",
    "str": "string",
    "bool": "boolean",
    "date": "datetime",
}


def check(name: str, args: Any, file: str, field: str) -> Any:
    def fail(msg: str) -> errors.UserError:
        return errors.UserError(f"{name}: {msg}", file=file, field=field)

    if name in ("take", "skip"):
        if isinstance(args, bool) or not isinstance(args, int) or args < 0:
            raise fail("needs a whole number of rows >= 0, e.g. '- take: 10'")
        return args
    if name == "take_random_sample":
        return _sample(args, fail)
    if name in ("drop_columns", "keep_columns"):
        return _columns(args, fail)
    if name == "extract_columns_from_partition_format":
        fmt = args.get("partition_format") if isinstance(args, dict) else args
        if not isinstance(fmt, str) or "{" not in fmt:
            raise fail("needs partition_format such as '/{Country}/{Date:yyyy/MM/dd}/'")
        from pjob.data import partition_format

        partition_format.compile_format(fmt, fail)
        return {"partition_format": fmt}
    if name == "convert_column_types":
        return _conversions(args, fail)
    if name == "filter":
        if not isinstance(args, str) or not args.strip():
            raise fail("needs an expression string such as 'col(\"Age\") > 40'")
        check_filter_expression(args, fail)
        return args.strip()
    raise fail("unknown transformation")


def _sample(args: Any, fail) -> dict[str, Any]:
    if not isinstance(args, dict) or "probability" not in args:
        raise fail("needs {probability: 0..1, seed: N}")
    unknown = set(args) - {"probability", "seed"}
    if unknown:
        raise fail(f"unknown option(s) {sorted(unknown)}")
    p = args["probability"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
        raise fail("probability must be a number in (0, 1]")
    seed = args.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise fail("seed must be a whole number")
    return {"probability": float(p), "seed": seed}


def _columns(args: Any, fail) -> dict[str, Any]:
    if isinstance(args, str):
        return {"columns": [args]}
    if isinstance(args, list) and args and all(isinstance(c, str) for c in args):
        return {"columns": list(args)}
    if isinstance(args, dict) and set(args) == {"pattern"} and isinstance(args["pattern"], str):
        try:
            re.compile(args["pattern"])
        except re.error as exc:
            raise fail(f"pattern is not a valid regular expression: {exc}") from None
        return {"pattern": args["pattern"]}
    if isinstance(args, dict) and set(args) == {"columns"}:
        return _columns(args["columns"], fail)
    raise fail("needs a column name, a list of names, or {pattern: REGEX}")


def _conversions(args: Any, fail) -> list[dict[str, Any]]:
    if isinstance(args, dict):
        args = [args]
    if not isinstance(args, list) or not args:
        raise fail("needs a list of {columns: ..., column_type: ...}")
    out = []
    for item in args:
        if not isinstance(item, dict) or "columns" not in item or "column_type" not in item:
            raise fail("each entry needs 'columns' and 'column_type'")
        cols = item["columns"]
        cols = [cols] if isinstance(cols, str) else cols
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
            raise fail("columns must be a name or a list of names")
        out.append({"columns": cols, **_column_type(item["column_type"], fail)})
    return out


def _column_type(spec: Any, fail) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise fail("column_type is one type, e.g. 'int' or {datetime: {formats: [...]}}")
        spec, options = next(iter(spec.items()))
        options = options or {}
    if not isinstance(spec, str):
        raise fail(f"column_type must be one of {', '.join(COLUMN_TYPES)}")
    kind = _TYPE_ALIASES.get(spec.lower(), spec.lower())
    if kind not in COLUMN_TYPES:
        raise fail(f"column_type '{spec}' is not supported (use one of {', '.join(COLUMN_TYPES)})")
    allowed = {"datetime": {"formats", "date_constant"}, "boolean": {"true_values", "false_values", "mismatch_as"}}.get(
        kind, set()
    )
    unknown = set(options) - allowed
    if unknown:
        raise fail(f"option(s) {sorted(unknown)} are not supported for {kind}")
    if "date_constant" in options:
        raise fail("datetime date_constant is not supported by pjob; put the full date in the column")
    out: dict[str, Any] = {"type": kind}
    if kind == "datetime":
        formats = options.get("formats") or []
        formats = [formats] if isinstance(formats, str) else formats
        out["formats"] = list(formats)
    if kind == "boolean":
        out["true_values"] = [str(v) for v in options.get("true_values", [])]
        out["false_values"] = [str(v) for v in options.get("false_values", [])]
        mismatch = options.get("mismatch_as", "error")
        if mismatch not in ("error", "true", "false", True, False):
            raise fail("boolean mismatch_as must be error, true or false")
        out["mismatch_as"] = str(mismatch).lower()
    return out


# --- filter expressions --------------------------------------------------------------
_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.Constant,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Attribute,
)
STRING_METHODS = ("startswith", "endswith", "contains")


def parse_filter(expression: str) -> ast.Expression:
    """Parse an MLTable filter expression (Python-like: ``col("a") > 1 and col("b") == "x"``)."""
    # MLTable expressions also use && / || / ! from the dataprep language; rewrite them
    # outside string literals only
    parts = _STRING_LITERAL.split(expression.strip())
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"!(?!=)", " not ", parts[i].replace("&&", " and ").replace("||", " or "))
    return ast.parse("".join(parts).strip(), mode="eval")


_STRING_LITERAL = re.compile(r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')")


def check_filter_expression(expression: str, fail) -> None:
    try:
        tree = parse_filter(expression)
    except SyntaxError as exc:
        raise fail(f"cannot parse expression {expression!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise fail(
                f"'{type(node).__name__}' is not supported in filter expressions; pjob supports col(\"name\"), "
                'literals, comparisons, and/or/not, + - * / %, and col(...).startswith/endswith/contains("text")'
            )
        if isinstance(node, ast.Name) and node.id not in ("col", "True", "False", "None"):
            raise fail(f"unknown name '{node.id}' in filter expression; refer to columns as col(\"{node.id}\")")
        if isinstance(node, ast.Call):
            is_col = isinstance(node.func, ast.Name) and node.func.id == "col"
            is_method = isinstance(node.func, ast.Attribute) and node.func.attr in STRING_METHODS
            if not (is_col or is_method) or node.keywords:
                raise fail('only col("name") and col(...).startswith/endswith/contains("text") calls are supported')
            if is_col and (
                len(node.args) != 1
                or not isinstance(node.args[0], ast.Constant)
                or not isinstance(node.args[0].value, str)
            ):
                raise fail("col() takes one column name string")
            if isinstance(node.func, ast.Attribute) and is_method and len(node.args) != 1:
                raise fail(f"{node.func.attr}() takes one argument")
        if isinstance(node, ast.Attribute) and node.attr not in STRING_METHODS:
            raise fail(f"'.{node.attr}' is not supported in filter expressions")
