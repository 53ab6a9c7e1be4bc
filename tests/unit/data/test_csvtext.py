"""Delimited text: Azure's record rules, cut points, and the Arrow fast path
agreeing with the Python reader on any text it accepts."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from pjob.data import csvtext, readers

fragment = st.sampled_from(["a", "b", '"', '""', ",", ";", " ", "\n", "\r\n", "é", "1", '"x"', 'y"z', "\n\n"])
texts = st.lists(fragment, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=texts, multi_line=st.booleans(), delimiter=st.sampled_from([",", ";"]), skip=st.booleans())
def test_arrow_fast_path_reads_what_the_python_reader_reads(text, multi_line, delimiter, skip):
    opts = {"delimiter": delimiter, "support_multi_line": multi_line}
    fast = readers._arrow_columns(text, opts, skip)
    if fast is None:
        return
    slow = readers._python_columns(text, opts, skip)
    assert fast[1] == slow[1]
    assert [c.to_pylist() for c in fast[0]] == slow[0] or fast[1] == 0


@settings(max_examples=200, deadline=None)
@given(text=texts, target=st.integers(1, 30), multi_line=st.booleans())
def test_cut_points_split_records_without_changing_them(text, target, multi_line):
    data = text.encode()
    if multi_line and not _rfc4180(text):
        return  # multi-line cut points assume RFC 4180 quoting (documented limitation)
    find = csvtext.quoted_line_boundaries if multi_line else csvtext.line_boundaries
    cuts = find(io.BytesIO(data), 0, len(data), target)
    assert cuts == sorted(set(cuts)) and cuts[0] == 0 and all(c < len(data) for c in cuts[1:])
    pieces = [data[a:b].decode() for a, b in zip(cuts, cuts[1:] + [len(data)])]
    joined = [r for piece in pieces for r in csvtext.records(piece, ",", multi_line)]
    assert joined == csvtext.records(text, ",", multi_line)


def _rfc4180(text: str, delimiter: str = ",") -> bool:
    """Quotes only open a field or close it, and "" inside a quoted field
    (csv.reader accepts a stray quote inside an unquoted field, RFC 4180 does not)."""
    quoted, at_start = False, True
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if text[i + 1 : i + 2] == '"':
                    i += 1
                elif text[i + 1 : i + 2] not in ("", delimiter, "\n", "\r"):
                    return False
                else:
                    quoted = False
        elif ch == '"':
            if not at_start:
                return False
            quoted = True
        at_start = not quoted and ch in (delimiter, "\n", "\r")
        i += 1
    return not quoted


def test_azure_single_line_quirks():
    assert csvtext.records('A2,"B\n2",C2\n', ",", False) == [["A2", '"B'], ['2"', "C2"]]
    assert csvtext.records("a\r\n\r\nb\r\n", ",", False) == [["a"], [""], ["b"]]
    assert csvtext.records("a\n\n\nb", ",", False) == [["a"], ["b"]]
    # an even number of quotes can still leave one open: y"z holds a literal quote
    assert csvtext.records('y"z,"\n\nq\n', ",", False) == [['y"z', '"'], ["q"]]


utf16_fragment = st.sampled_from(
    ["a", ",", "\n", "\r\n", "\u00fc", "\u6f22", "\u0a0a", "\u0a00", "\u000a\u0a0a", "\U0001f600", "\u0100"]
)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(utf16_fragment, max_size=60).map("".join), target=st.integers(1, 40))
def test_utf16le_cut_points_fall_after_line_breaks_only(text, target):
    data = text.encode("utf-16")  # with its BOM, little-endian here
    cuts = csvtext.line_boundaries(io.BytesIO(data), 0, len(data), target, utf16le=True)
    assert cuts == sorted(set(cuts)) and cuts[0] == 0 and all(c % 2 == 0 and c < len(data) for c in cuts)
    pieces = [data[a:b] for a, b in zip(cuts, cuts[1:] + [len(data)])]
    decoded = [p.decode("utf-16" if i == 0 else "utf-16-le") for i, p in enumerate(pieces)]
    assert "".join(decoded) == text
    assert all(piece.endswith("\n") for piece in decoded[:-1])
