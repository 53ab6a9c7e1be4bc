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


MERGE_TAG = "tag:yaml.org,2002:merge"


def _to_python(node: yaml.Node, path: tuple, lines: Lines, loader: yaml.SafeLoader) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        explicit: dict[str, int] = {}  # keys written in this mapping (not merged in with <<)
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = str(loader.construct_object(key_node, deep=True))
            if key in explicit:
                raise errors.UserError(
                    [
                        errors.Problem(
                            key_node.start_mark.name,
                            key_node.start_mark.line + 1,
                            ".".join(str(p) for p in path + (key,)),
                            f"duplicate key (first at line {explicit[key]}); keep one",
                        )
                    ]
                )
            explicit[key] = key_node.start_mark.line + 1
        loader.flatten_mapping(node)  # merged keys first, explicit ones after (they win)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = str(key) if not isinstance(key, str) else key
            out[key] = _to_python(value_node, path + (key,), lines, loader)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(child, path + (i,), lines, loader) for i, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


MAX_BYTES = 16 << 20  # a job YAML or MLTable is a few KB; refuse before parsing anything this big
MAX_VALUES = 200_000  # values after expanding aliases (*name) and merge keys (<<); real jobs have < 10,000


def _check_expansion(node: yaml.Node, filename: str) -> None:
    """Refuse an "alias bomb" (a few lines whose aliases expand to billions of
    values) and recursive aliases before anything is expanded: the size of
    the expanded document is counted over the composed node graph, each
    node once (pure, linear in the file)."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise errors.UserError(
                [
                    errors.Problem(
                        filename,
                        n.start_mark.line + 1,
                        "",
                        "an alias refers to a value that contains it (a recursive alias); write the value out instead",
                    )
                ]
            )
        open_.add(key)
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(c) for c in n.value)
        else:
            total = 1
        open_.discard(key)
        if total > MAX_VALUES:
            raise errors.UserError(
                [
                    errors.Problem(
                        filename,
                        n.start_mark.line + 1,
                        "",
                        f"the aliases (*name) and merge keys (<<) here expand to more than {MAX_VALUES:,} values; "
                        "a job file never needs that many: write the values out, or use fewer aliases",
                    )
                ]
            )
        sizes[key] = total
        return total

    size(node)


# errors whose context mark is where the mistake starts (an unclosed quote or bracket): the
# parser only notices at a later line (often the end of the file)
_STARTS_AT_CONTEXT = ("while scanning a quoted scalar", "while parsing a flow", "while scanning a block scalar")


def error_place(exc: yaml.MarkedYAMLError) -> tuple:
    """(mark to report, message) of a YAML syntax error (pure): an unclosed
    quote or bracket is reported where it opens, saying where it was noticed."""
    msg = f"YAML syntax error: {exc.problem or exc}"
    if exc.context:
        msg += f" ({exc.context})"
    start, found = exc.context_mark, exc.problem_mark
    if (
        start is not None
        and found is not None
        and found.line > start.line
        and any((exc.context or "").startswith(c) for c in _STARTS_AT_CONTEXT)
    ):
        context = exc.context or ""
        what = "quote" if "quoted" in context else "bracket" if "flow" in context else "block"
        return start, f"{msg}: the {what} opened on this line is not closed (noticed at line {found.line + 1})"
    return found or start, msg


def parse_yaml(text: str, filename: str = "<input>") -> tuple[Any, Lines]:
    if len(text) > MAX_BYTES:
        raise errors.UserError(
            [
                errors.Problem(
                    filename,
                    None,
                    "",
                    f"the file has {len(text):,} characters, more than "
                    f"the {MAX_BYTES >> 20} MB a job YAML or MLTable may have; is it the right file?",
                )
            ]
        )
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        loader.name = filename  # marks carry the file name
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, filename)
        lines: Lines = {}
        data = _to_python(node, (), lines, loader) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark, msg = error_place(exc)
        line = mark.line + 1 if mark else None
        raise errors.UserError(
            [errors.Problem(filename, line, "", msg + "; fix the YAML syntax at this line")]
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise errors.UserError(
            [
                errors.Problem(
                    filename,
                    line,
                    "",
                    f"unacceptable character #x{exc.character if isinstance(exc.character, int) else ord(exc.character):04x} in the file; remove it",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise errors.UserError([errors.Problem(filename, None, "", f"YAML error: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def load_yaml(path: str) -> tuple[Any, Lines]:
    if os.path.isdir(path):
        raise errors.UserError(
            f"{path} is a folder; give the path of a job YAML file (e.g. {os.path.join(path, 'pipeline.yml')})",
            file=path,
        )
    if not os.path.isfile(path):
        raise errors.UserError(f"file not found: {path}; give the path of a job YAML file", file=path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise errors.UserError(f"cannot read the file ({exc.strerror}); fix its permissions", file=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise errors.UserError(
            [
                errors.Problem(
                    path,
                    line,
                    "",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file as UTF-8",
                )
            ]
        ) from None
    return parse_yaml(text, path)


def line_of(lines: Lines, path: tuple) -> int | None:
    """The line of ``path`` or of its nearest ancestor that has one."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def line_within(path: str, lines: Lines, start: int, text: str) -> int | None:
    """The first line from ``start`` on holding ``text``, before the next line
    any key starts at (the value of the key at ``start``, however many lines it spans)."""
    end = min((n for n in lines.values() if n > start), default=None)
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for number, content in enumerate(fh, 1):
                if end is not None and number >= end:
                    break
                if number >= start and text in content:
                    return number
    except (OSError, UnicodeDecodeError):
        pass
    return None


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    # characters YAML readers take as line breaks must be escaped (double quotes)
    style = '"' if any(c in value for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
