"""The 1 GB CSV job of issue 15, pjob alone: wall time and the peak memory of
all of ``pjob run``'s processes together (sum of PSS, sampled every 0.1 s),
with the peak of each kind of process (the driver, its agents, their
workers), so what holds memory can be seen. The workload is
``bench/peers.py``'s table (``bench/peers_drivers.py``: a ``score`` column
added to every row, 10 MB mini-batches, 2 workers); the output is checked
(row count and the sum of the ids).

    .venv/bin/python bench/table_job.py [--csv-mb 1000] [--repeat 1] [--keep DIR]

Target (exit 1 when missed): all pjob processes together <= 400 MB. The wall
time against Ray Data and Dask (<= 0.5x) needs them: ``make bench-peers``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as bl
import peers

HERE = os.path.dirname(os.path.abspath(__file__))
PSS_TARGET_MB = 400.0
ROLES = ("pjob run (driver)", "agents", "workers")


def tree(root_pid: int) -> list[tuple[int, int]]:
    """(pid, depth below ``root_pid``) of the process tree."""
    out, todo = [], [(root_pid, 0)]
    while todo:
        pid, depth = todo.pop()
        out.append((pid, depth))
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo += [(int(c), depth + 1) for c in f.read().split()]
        except OSError:
            pass
    return out


def pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:")) / 1024
    except (OSError, StopIteration):
        return 0.0


def run_sampled(cmd: list[str], env: dict) -> tuple[float, float, dict[str, float]]:
    """(wall s, peak MB of the whole tree, peak MB of each role: the sum over
    that role's processes at one sample)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0.0]
    roles = dict.fromkeys(ROLES, 0.0)

    def sample():
        while proc.poll() is None:
            now = dict.fromkeys(ROLES, 0.0)
            for pid, depth in tree(proc.pid):
                now[ROLES[min(depth, 2)]] += pss_mb(pid)
            peak[0] = max(peak[0], sum(now.values()))
            for role, mb in now.items():
                roles[role] = max(roles[role], mb)
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"pjob run failed ({proc.returncode}):\n{err[-3000:]}")
    return elapsed, peak[0], roles


def check_output(out: str, csv: str) -> str:
    """pjob's output has every input row once: the row count and the sum of the
    ids (the first field) equal the input's."""
    rows = ids = 0
    with open(out, "rb") as f:
        for line in f:
            rows += 1
            ids += int(line[: line.index(b" ")])
    with open(csv, "rb") as f:
        n = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1
    if rows != n or ids != n * (n - 1) // 2:
        raise RuntimeError(f"output differs from the input: {rows} rows, ids {ids}; expected {n} rows")
    return f"{rows:,} rows, ids checked"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv-mb", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", help="keep (and reuse) the CSV and the working folder here")
    args = parser.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="pjob-table-")
    os.makedirs(root, exist_ok=True)
    csv = os.path.join(root, f"table-{args.csv_mb}mb.csv")
    if not os.path.exists(csv):
        peers.write_csv(csv, args.csv_mb)
    bl.compile_pjob()
    env = dict(os.environ, PYTHONPATH=HERE)
    print(
        f"table job: pjob run over a {os.path.getsize(csv) / 1e6:.0f} MB CSV in 10 MB mini-batches, 2 workers; "
        f"peak PSS of all pjob processes sampled every 0.1 s; {bl.load()}"
    )
    walls, peaks = [], []
    for i in range(args.repeat):
        work = tempfile.mkdtemp(prefix="run-", dir=root)  # the driver's job folder and runs go under it
        out = os.path.join(work, "out.txt")
        cmd = [sys.executable, os.path.join(HERE, "peers_drivers.py"), "pjob", "csv", csv, "10000000", "2", out]
        wall, peak, roles = run_sampled(cmd, env)
        checked = check_output(out, csv)
        shutil.rmtree(work, ignore_errors=True)
        walls.append(wall)
        peaks.append(peak)
        by_role = ", ".join(f"{role} {mb:.0f}" for role, mb in roles.items())
        print(
            f"  [{i + 1}/{args.repeat}] wall {wall:.2f}s, peak {peak:.0f} MB (peak by role, MB: {by_role}); {checked}"
        )
    print(f"wall {bl.spread(walls)}s, peak {bl.spread(peaks, 1, '.0f')} MB")
    ok = bl.verdict("peak memory of all pjob processes", bl.med(peaks), PSS_TARGET_MB, " MB")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
