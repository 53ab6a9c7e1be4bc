"""Constraints for the floor-versions venv (``make test-floors``): the
known-good constraints with pandas and pyarrow replaced by the lowest
versions pyproject.toml admits, so a floor in pyproject is a tested promise.

Usage: python .ci/floors.py pyproject.toml .ci/constraints.txt > constraints-floors.txt

numpy is held below 2: the floor wheels of pandas and pyarrow were built
against numpy 1.x and do not import with numpy 2, so every user on those
floors has numpy 1.x.
"""

from __future__ import annotations

import re
import sys

FLOORED = ("pandas", "pyarrow")
NUMPY_FOR_FLOORS = "numpy<2"


def floors(pyproject_text: str) -> dict[str, str]:
    """``{name: version}`` of each FLOORED dependency's ``>=`` bound."""
    found = {}
    for name in FLOORED:
        m = re.search(rf'^\s*"{name}>=([0-9][0-9.]*)[",]', pyproject_text, re.M)
        if not m:
            raise SystemExit(f"pyproject.toml: no '{name}>=VERSION' dependency; the floors venv needs one")
        found[name] = m.group(1)
    return found


def constraints(pyproject_text: str, constraints_text: str) -> str:
    pinned = floors(pyproject_text)
    drop = {*FLOORED, "numpy"}
    kept = [line for line in constraints_text.splitlines()
            if re.split(r"[<>=!~ ;\[]", line.strip(), maxsplit=1)[0].lower() not in drop]
    return "\n".join(kept + [f"{n}=={v}" for n, v in pinned.items()] + [NUMPY_FOR_FLOORS]) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as p, open(sys.argv[2], encoding="utf-8") as c:
        sys.stdout.write(constraints(p.read(), c.read()))
