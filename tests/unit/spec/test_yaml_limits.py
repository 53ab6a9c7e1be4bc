"""``pjob.spec.yamlio``: alias bombs and recursive aliases are refused from
the composed graph (before expansion), an oversized file before parsing,
and an unclosed quote or bracket is reported on the line that opens it."""

import pytest
from pjob.spec import errors, yamlio


def _problem(text: str) -> errors.Problem:
    with pytest.raises(errors.UserError) as info:
        yamlio.parse_yaml(text, "job.yml")
    return info.value.problems[0]


def test_aliases_that_expand_too_far_are_refused_at_the_line_where_it_happens():
    levels = ["a0: &a0 [" + ", ".join(['"x"'] * 10) + "]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    p = _problem("\n".join(levels) + "\n")
    assert p.line == 6 and "expand to more than 200,000 values" in p.message  # a5 = 10^6 values


def test_aliases_used_within_reason_are_fine():
    data, _ = yamlio.parse_yaml("base: &b {cpu: 1}\njobs:\n  a: *b\n  b: {<<: *b, cpu: 2}\n")
    assert data["jobs"] == {"a": {"cpu": 1}, "b": {"cpu": 2}}


def test_a_recursive_alias_is_refused():
    p = _problem("a: &a [1, *a]\n")
    assert p.line == 1 and "recursive alias" in p.message


def test_a_huge_file_is_refused_before_parsing():
    p = _problem("x: |\n" + ("  " + "y" * 1022 + "\n") * (17 * 1024))
    assert "more than the 16 MB" in p.message and p.line is None


@pytest.mark.parametrize("text,line,noticed", [('a: 1\nb: "open\nc: 3\nd: 4\n', 2, 5), ("a: [1, 2\n\nb: 3\n", 1, 3)])
def test_an_unclosed_quote_or_bracket_is_reported_where_it_opens(text, line, noticed):
    p = _problem(text)
    assert p.line == line and f"noticed at line {noticed}" in p.message, p


def test_other_syntax_errors_keep_the_line_of_the_problem():
    p = _problem("a: 1\nb: [1, 2]]\n")
    assert p.line == 2
