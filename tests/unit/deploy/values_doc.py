"""Read helm/pjob/values.yaml the way helm-docs does (a ``# --`` comment
block right above each value) and write the chart's README values table.

    python tests/unit/deploy/values_doc.py > helm/pjob/README.md

Used by test_chart_static.py (every value documented; the README in step
with values.yaml). A leaf is a key whose value is on its own line (scalars
and flow-style ``{...}``/``[...]``); parent keys (a block map follows) need
no comment: their leaves carry the documentation.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import sys

CHART = pathlib.Path(__file__).resolve().parents[3] / "helm" / "pjob"
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w.-]*):(?P<rest>.*)$")


@dataclasses.dataclass
class ValueDoc:
    path: str  # dotted
    default: str  # the YAML text after the colon
    doc: str  # the `# --` comment joined into one line; "" when missing


def scan_values(text: str) -> list[ValueDoc]:
    lines = text.splitlines()
    stack: list[tuple[int, str]] = []
    found: list[ValueDoc] = []
    for i, line in enumerate(lines):
        m = KEY_LINE.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [m["key"]])
        stack.append((indent, m["key"]))
        if not m["rest"].strip():
            continue  # a parent: its block map follows
        j = i - 1
        comment: list[str] = []
        while j >= 0 and lines[j].strip().startswith("#"):
            comment.insert(0, lines[j].strip())
            j -= 1
        doc = ""
        if comment and comment[0].startswith("# --"):
            doc = " ".join([comment[0][4:].strip(), *(c.lstrip("#").strip() for c in comment[1:])]).strip()
        found.append(ValueDoc(path, m["rest"].strip(), doc))
    return found


def render_readme(values_text: str, chart_yaml: dict) -> str:
    rows = []
    for v in scan_values(values_text):
        default = v.default.replace("|", "\\|")
        doc = v.doc.replace("|", "\\|")
        rows.append(f"| `{v.path}` | `{default}` | {doc} |")
    return "\n".join(
        [
            f"# {chart_yaml['name']} Helm chart",
            "",
            chart_yaml["description"].strip(),
            "",
            f"Chart version {chart_yaml['version']}, app version {chart_yaml['appVersion']}. "
            "Install, datastores, security and RBAC: see docs/deploy.md in the pjob repository.",
            "",
            "```bash",
            "helm install pjob helm/pjob -n pjob --create-namespace --set image.repository=REGISTRY/pjob",
            "```",
            "",
            "## Values",
            "",
            "Generated from the `# --` comments in values.yaml by `python tests/unit/deploy/values_doc.py`;"
            " a test fails when this table and values.yaml disagree.",
            "",
            "| Key | Default | Description |",
            "| --- | --- | --- |",
            *rows,
            "",
        ]
    )


def main() -> int:
    import yaml

    sys.stdout.write(
        render_readme((CHART / "values.yaml").read_text(), yaml.safe_load((CHART / "Chart.yaml").read_text()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
