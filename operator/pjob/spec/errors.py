"""User-facing errors. Anything a user can fix (bad YAML, bad field, missing
file, bad CLI usage) is raised as ``UserError``; the CLI prints each problem on
one line and exits 2 without a traceback (``--debug`` shows it)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Problem:
    file: str | None  # the file the user wrote
    line: int | None  # 1-based line in that file, when known
    field: str  # dotted path, e.g. "jobs.score.mini_batch_size"
    message: str  # what is wrong; how to fix

    def __str__(self) -> str:
        where = (self.file or "") + (f":{self.line}" if self.file and self.line else "")
        parts = [p for p in (where, self.field) if p]
        return ": ".join(parts + [self.message])


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, CI cancellation, systemd): the run unwinds like
    Ctrl-C, so it can be resumed; ``pjob`` exits 143 and says so."""


class UserError(Exception):
    """One or more problems in what the user gave us (exit code 2)."""

    def __init__(self, problems: list[Problem] | str, *, file: str | None = None, field: str = ""):
        if isinstance(problems, str):
            problems = [Problem(file, None, field, problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
