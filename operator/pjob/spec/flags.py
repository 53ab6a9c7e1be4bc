"""Runtime flags (docs/writing-jobs.md, "Runtime flags in program_arguments"), read out of
``program_arguments``.

The flags also stay in the argv the entry script sees; flags we do not know
are the user's and pass through untouched (parsing uses ``allow_abbrev=False``
exactly like Azure's runtime, so ``--resource_monitor_interva`` is a user flag).
Pure functions.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex


@dataclasses.dataclass
class RuntimeFlags:
    """docs/writing-jobs.md, "Runtime flags in program_arguments", parsed out of program_arguments (the flags also
    stay in the entry script's argv)."""

    error_threshold: int | None = None  # None = not given (the YAML key applies)
    allowed_failed_percent: float = 100.0
    task_overhead_timeout: float = 600.0
    progress_update_timeout: float | None = None  # None = 3 x (timeout + overhead)
    first_task_creation_timeout: float = 600.0
    copy_logs_to_parent: bool = False
    resource_monitor_interval: float = 600.0
    append_row_dataframe_header: bool = False
    metrics_name_prefix: str = ""
    push_metrics_to_parent: bool = False


FLAG_NAMES = [f.name for f in dataclasses.fields(RuntimeFlags)]


class FlagError(ValueError):
    def __init__(self, flag: str, message: str):
        self.flag = flag
        super().__init__(message)


def _bool(flag: str, text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise FlagError(flag, f"--{flag} {text!r} is not a boolean; use True or False")


def _number(
    flag: str, text: str, *, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise FlagError(flag, f"--{flag} {text!r} is not a number; give a number") from None
    if (
        math.isnan(value)
        or (low is not None and (value < low or (low_open and value <= low)))
        or (high is not None and value > high)
    ):
        rng = f"{'(' if low_open else '['}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise FlagError(flag, f"--{flag} {text} is out of range; use a value in {rng}")
    return value


def split_args(program_arguments: str | None) -> list[str]:
    try:
        return shlex.split(program_arguments or "")
    except ValueError as exc:
        raise FlagError("program_arguments", f"cannot split program_arguments ({exc}); check the quotes") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # never print usage and exit: say which flag is wrong
        flag = next((n for n in FLAG_NAMES if f"--{n}" in message), "program_arguments")
        raise FlagError(flag, f"--{flag} needs a value" if "expected one argument" in message else message)


def parse_flags(argv: list[str], *, unresolved_ok: bool = False) -> RuntimeFlags:
    """Typed runtime flags from ``argv``. With ``unresolved_ok`` (validation
    before bindings are substituted) a value still holding ${{...}} is not
    type-checked; it is checked when the task is built."""
    parser = _Parser(allow_abbrev=False, add_help=False)
    for name in FLAG_NAMES:
        parser.add_argument(f"--{name}", dest=name, default=None)
    known, _ = parser.parse_known_args(argv)
    flags = RuntimeFlags()
    raw = {k: v for k, v in vars(known).items() if v is not None and not (unresolved_ok and "${{" in v)}
    if "error_threshold" in raw:
        value = _number("error_threshold", raw["error_threshold"])
        flags.error_threshold = -1 if value < -1 else math.ceil(value)
    if "allowed_failed_percent" in raw:
        flags.allowed_failed_percent = _number("allowed_failed_percent", raw["allowed_failed_percent"], low=0, high=100)
    for name in ("task_overhead_timeout", "progress_update_timeout", "first_task_creation_timeout"):
        if name in raw:
            setattr(flags, name, _number(name, raw[name], low=0, low_open=True))
    if "resource_monitor_interval" in raw:
        flags.resource_monitor_interval = _number("resource_monitor_interval", raw["resource_monitor_interval"], low=0)
    for name in ("copy_logs_to_parent", "append_row_dataframe_header", "push_metrics_to_parent"):
        if name in raw:
            setattr(flags, name, _bool(name, raw[name]))
    if "metrics_name_prefix" in raw:
        flags.metrics_name_prefix = str(raw["metrics_name_prefix"])
    return flags


def near_misses(argv: list[str]) -> list[tuple[str, str]]:
    """User flags that look like misspelt runtime flags: [(given, meant)]."""
    out = []
    for token in argv:
        if token.startswith("--"):
            name = token[2:].split("=", 1)[0]
            if name not in FLAG_NAMES:
                import difflib  # only for a misspelt flag: not on every run's import path

                close = difflib.get_close_matches(name, FLAG_NAMES, n=1, cutoff=0.85)
                if close:
                    out.append((name, close[0]))
    return out
