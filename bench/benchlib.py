"""Helpers shared by the benchmarks in ``bench/`` (not part of pjob): timing
fresh processes, small input folders, medians with their min-max, a two-point
fit of wall time against the number of mini-batches, and PASS/FAIL lines.

Benchmarks print ratios against baselines measured in the same run, in
alternating order, because the machines they run on are shared and noisy.
"""

from __future__ import annotations

import compileall
import glob
import os
import statistics
import subprocess
import sys
import time

FIRST_RUN_ENV = "PJOB_BENCH_FIRST_RUN_DIR"  # entry scripts note the wall time of their first run() here
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Written into an entry script: records the wall-clock time of this process's first run() call.
FIRST_RUN_SNIPPET = """
import os as _os, time as _time
_FIRST = [_os.environ.get("PJOB_BENCH_FIRST_RUN_DIR")]

def _note_first_run():
    if _FIRST[0]:
        with open(_os.path.join(_FIRST[0], str(_os.getpid())), "w") as _f:
            _f.write(repr(_time.time()))
        _FIRST[0] = None
"""


def compile_pjob(folder: str | None = None) -> None:
    """pjob is installed editable here: give it the bytecode a regular install
    has (a shell with PYTHONDONTWRITEBYTECODE=1 would recompile it on every start).
    ``folder``: another copy of the package's source root to compile instead."""
    compileall.compile_dir(folder or os.path.join(REPO, "operator"), quiet=1)


def make_files(folder: str, n: int) -> None:
    """``n`` small text files ``doc000000.txt``..., created only when missing."""
    os.makedirs(folder, exist_ok=True)
    if len(os.listdir(folder)) == n:
        return
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    for i in range(n):
        with open(os.path.join(folder, f"doc{i:06d}.txt"), "w") as f:
            f.write(f"document {i} " + "lorem ipsum dolor sit amet " * 3 + "\n")


def run_timed(
    cmd: list[str], cwd: str, first_run_dir: str | None = None, env: dict | None = None
) -> tuple[float, float | None]:
    """(wall seconds, seconds from start to the first run() call in any process,
    or None when no entry script noted one)."""
    env = dict(env or os.environ)
    if first_run_dir:
        os.makedirs(first_run_dir, exist_ok=True)
        for path in glob.glob(os.path.join(first_run_dir, "*")):
            os.unlink(path)
        env[FIRST_RUN_ENV] = first_run_dir
    wall0 = time.time()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    first = None
    if first_run_dir:
        times = []
        for path in glob.glob(os.path.join(first_run_dir, "*")):
            with open(path) as f:
                times.append(float(f.read()))
        first = min(times) - wall0 if times else None
    return elapsed, first


def same_bytes(a: str, b: str) -> None:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        if fa.read() != fb.read():
            raise RuntimeError(f"outputs differ: {a} vs {b}")


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], scale: float = 1.0, fmt: str = ".2f") -> str:
    """``median [min-max]``."""
    vs = [v * scale for v in values]
    return f"{statistics.median(vs):{fmt}} [{min(vs):{fmt}}-{max(vs):{fmt}}]"


def fit(n1: float, t1: float, n2: float, t2: float) -> tuple[float, float]:
    """(intercept s, slope s per unit) of the line through (n1, t1) and (n2, t2)."""
    slope = (t2 - t1) / (n2 - n1)
    return t1 - slope * n1, slope


def verdict(label: str, value: float, target: float, unit: str = "x") -> bool:
    ok = value <= target
    print(f"  {'PASS' if ok else 'FAIL'}  {label}: {value:.2f}{unit} (target <= {target:g}{unit})")
    return ok


def verdict_at_least(label: str, value: float, target: float, unit: str = "x") -> bool:
    ok = value >= target
    print(f"  {'PASS' if ok else 'FAIL'}  {label}: {value:.2f}{unit} (target >= {target:g}{unit})")
    return ok


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def python() -> str:
    return sys.executable
