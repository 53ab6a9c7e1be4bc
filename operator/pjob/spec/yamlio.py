"""Read YAML keeping the line of every key, so errors can say ``FILE:LINE``.

``load_yaml(path)`` returns ``(data, lines)`` where ``lines`` maps a key path
tuple such as ``("jobs", "score", "mini_batch_size")`` to its 1-based line.
A YAML syntax error becomes a ``UserError`` naming the file and line.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from pjob.spec import errors

Lines = dict[tuple, int]


def _to_python(node: yaml.Node, path: tuple, lines: Lines, loader: yaml.SafeLoader) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                raise errors.UserError([errors.Problem(
                    key_node.start_mark.name, key_node.start_mark.line + 1, ".".join(str(p) for p in path + (key,)),
                    f"duplicate key (first at line {lines[path + (key,)]}); keep one",
                )])
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, path + (key,), lines, loader)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(child, path + (i,), lines, loader) for i, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_yaml(text: str, filename: str = "<input>") -> tuple[Any, Lines]:
    loader = yaml.SafeLoader(text)
    loader.name = filename  # marks carry the file name
    try:
        node = loader.get_single_node()
        lines: Lines = {}
        data = _to_python(node, (), lines, loader) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = f"YAML syntax error: {exc.problem or exc}"
        if exc.context:
            msg += f" ({exc.context})"
        raise errors.UserError([errors.Problem(filename, line, "", msg + "; fix the YAML syntax at this line")])
    except yaml.YAMLError as exc:
        raise errors.UserError([errors.Problem(filename, None, "", f"YAML error: {exc}")])
    finally:
        loader.dispose()
    return data, lines


def load_yaml(path: str) -> tuple[Any, Lines]:
    if not os.path.isfile(path):
        raise errors.UserError(f"file not found: {path}; give the path of a job YAML file", file=path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    return parse_yaml(text, path)


def line_of(lines: Lines, path: tuple) -> int | None:
    """The line of ``path`` or of its nearest ancestor that has one."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
