"""CPU-bound scaling benchmark (issue 15): 2,000 mini-batches of about 5 ms of
pure-Python work each, run by ``pjob run`` with 2 workers and with 1, and by a
``multiprocessing.Pool`` of 2 and of 1 for reference. Runs alternate; medians
with [min-max] are printed.

    .venv/bin/python bench/scaling.py [--mini-batches 2000] [--ms 5] [--repeat 3] [--pjob-code DIR]

Target (exit 1 when missed): pjob's speed-up from 1 to 2 workers >= 1.9x.
The work is a fixed number of loop iterations (calibrated once in this
process to about ``--ms``), not a busy wait on the clock, so a worker that
gets less CPU (another process on the machine) takes longer: run it on an
otherwise quiet machine, or read the Pool's speed-up beside it. The four
runs of a repeat go in the reverse order every other repeat. ``--pjob-code
DIR`` runs the pjob package in DIR (e.g. an older commit's ``operator/`` from
``git archive``), so two versions compare in the same conditions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import benchlib as bl

TARGET = 1.9

ENTRY_SCRIPT = """
import os
LOOPS = {loops}

def init():
    pass

def spin(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x

def run(mini_batch):
    return [f"{{os.path.basename(p)}} {{spin(LOOPS)}}" for p in mini_batch]
"""

POOL_SCRIPT = """
import multiprocessing, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score import run

def main():
    folder, workers, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder))
    with multiprocessing.Pool(workers) as pool, open(out, "w") as f:
        for rows in pool.imap(run, [[p] for p in paths]):
            f.write("".join(f"{r}\\n" for r in rows))

if __name__ == "__main__":
    main()
"""

PIPELINE = """
type: parallel
name: scaling-{workers}
inputs:
  data: {{type: uri_folder, path: {data}}}
outputs:
  out: {{type: uri_file, path: {out}}}
input_data: ${{{{inputs.data}}}}
mini_batch_size: "1"
max_concurrency_per_instance: {workers}
task:
  type: run_function
  code: {code}
  entry_script: score.py
  append_row_to: ${{{{outputs.out}}}}
"""


def calibrate(ms: float) -> int:
    def spin(n):
        x = 0
        for i in range(n):
            x = (x * 31 + i) % 1000003
        return x

    n = 20000
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        spin(n)
        best = min(best, time.perf_counter() - t)
    return max(1, int(n * ms / 1000 / best))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mini-batches", type=int, default=2000)
    parser.add_argument("--ms", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pjob-code", metavar="DIR", help="run the pjob package found in DIR instead")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="pjob-scaling-")
    data, code = os.path.join(root, "data"), os.path.join(root, "code")
    bl.make_files(data, args.mini_batches)
    os.makedirs(code)
    loops = calibrate(args.ms)
    with open(os.path.join(code, "score.py"), "w") as f:
        f.write(ENTRY_SCRIPT.format(loops=loops))
    with open(os.path.join(code, "pool_baseline.py"), "w") as f:
        f.write(POOL_SCRIPT)
    bl.compile_pjob(args.pjob_code)
    env = dict(os.environ, PYTHONPATH=os.path.abspath(args.pjob_code)) if args.pjob_code else None
    pjob = os.path.join(os.path.dirname(bl.python()), "pjob")
    cmds = {}
    for workers in (1, 2):
        yml, out = os.path.join(root, f"job-{workers}.yml"), os.path.join(root, f"pjob-{workers}.txt")
        with open(yml, "w") as f:
            f.write(PIPELINE.format(workers=workers, data=data, out=out, code=code))
        cmds[("pjob", workers)] = ([pjob, "run", yml, "--runs-dir", os.path.join(root, "runs"), "--fresh"], out)
        out = os.path.join(root, f"pool-{workers}.txt")
        cmds[("pool", workers)] = ([bl.python(), os.path.join(code, "pool_baseline.py"), data, str(workers), out], out)
    print(
        f"scaling: {args.mini_batches:,} mini-batches of ~{args.ms:g} ms pure-Python work ({loops:,} loop "
        f"iterations), 1 vs 2 workers, {args.repeat} alternating runs, median [min-max]; {bl.load()}"
        + (f"; pjob from {args.pjob_code}" if args.pjob_code else "")
    )
    times: dict = {key: [] for key in cmds}
    for n in range(args.repeat):
        order = list(cmds.items())
        for key, (cmd, _out) in order if n % 2 == 0 else order[::-1]:
            times[key].append(bl.run_timed(cmd, root, env=env if key[0] == "pjob" else None)[0])
    reference = cmds[("pool", 1)][1]
    for _cmd, out in cmds.values():
        bl.same_bytes(reference, out)
    speedup = {}
    for who in ("pool", "pjob"):
        speedup[who] = bl.med(times[(who, 1)]) / bl.med(times[(who, 2)])
        print(
            f"  {who:4}: 1 worker {bl.spread(times[(who, 1)])}s, 2 workers {bl.spread(times[(who, 2)])}s, "
            f"speed-up {speedup[who]:.2f}x"
        )
    ok = bl.verdict_at_least(
        f"CPU-bound speed-up of pjob, 2 workers vs 1 (Pool's: {speedup['pool']:.2f}x)", speedup["pjob"], TARGET
    )
    print(f"  at the end: {bl.load()}")
    shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
