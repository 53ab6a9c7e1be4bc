"""Engine overhead benchmark (issue 15): ``pjob run`` against a plain
``multiprocessing.Pool`` script doing the same work with 2 workers, both
started as fresh processes, at two input sizes (default 20,000 and 100,000
small files) and two mini-batch sizes (10 files and 1 file).

    .venv/bin/python bench/overhead.py [--files 20000,100000] [--mb 10,1] [--repeat 3] [--keep DIR]
    .venv/bin/python bench/overhead.py --first-run-only [--files ...] [--mb 10] [--repeat 9]

For each mini-batch size the two sizes give two points of wall time against
the number of mini-batches; the line through them splits the cost into a
fixed part (intercept, s: start-up and tear-down) and a per-mini-batch part
(slope, µs). The entry script also notes the wall time of its first ``run()``
call, so the time from command start to the first ``run()`` is measured apart.
The baseline maps the same ``run(mini_batch)`` over the same mini-batches with
``Pool(2).imap`` (ordered, like pjob's output) and writes the returned rows to
one file; both outputs must be byte-identical. Runs alternate Pool / pjob;
medians with [min-max] are printed. The time to the first ``run()`` is also
given per input size (planning and the Pool's listing grow with the files).
``--first-run-only`` measures only that, with the first mini-batch size and
no slope fit (quicker, so more repeats fit in the same time).

For scale, the time to the first ``run()`` is also broken down: bare Python,
Python + importing pydantic (the floor of any run that validates its spec
first), and the engine alone: the measured step started again straight from
its task JSON, without YAML, spec models or validation.

Targets (exit 1 when one is missed): slope <= 1.1x Pool's with mini-batches
of 10 and <= 1.3x with mini-batches of 1; time to first run() <= 1.3x Pool's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap

import benchlib as bl

SLOPE_TARGETS = {10: 1.1, 1: 1.3}
FIRST_RUN_TARGET = 1.3

ENTRY_SCRIPT = (
    bl.FIRST_RUN_SNIPPET
    + """
import hashlib

def init():
    pass

def run(mini_batch):
    _note_first_run()
    rows = []
    for path in mini_batch:
        with open(path, "rb") as f:
            data = f.read()
        rows.append(f"{_os.path.basename(path)} {len(data.split())} {hashlib.sha1(data).hexdigest()}")
    return rows
"""
)

POOL_SCRIPT = """
import multiprocessing, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score import run

def main():
    folder, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder))
    batches = [paths[i:i + size] for i in range(0, len(paths), size)]
    with multiprocessing.Pool(2) as pool, open(out, "w") as f:
        for rows in pool.imap(run, batches):
            f.write("".join(f"{r}\\n" for r in rows))

if __name__ == "__main__":
    main()
"""

PIPELINE = """
type: pipeline
name: bench-{files}-{size}
jobs:
  score:
    type: parallel
    inputs:
      data: {{type: uri_folder, path: {data}}}
    outputs:
      out: {{type: uri_file, path: {out}}}
    input_data: ${{{{inputs.data}}}}
    mini_batch_size: "{size}"
    max_concurrency_per_instance: 2
    task:
      type: run_function
      code: {code}
      entry_script: score.py
      append_row_to: ${{{{outputs.out}}}}
"""


def measure(root: str, code: str, files: int, size: int, repeat: int, env: dict | None = None) -> dict:
    """Alternating Pool / pjob runs on ``files`` files in mini-batches of ``size``."""
    data = os.path.join(root, f"data-{files}")
    bl.make_files(data, files)
    yml = os.path.join(root, f"pipeline-{files}-{size}.yml")
    pjob_out = os.path.join(root, f"pjob-out-{files}-{size}.txt")
    with open(yml, "w") as f:
        f.write(PIPELINE.format(files=files, size=size, data=data, out=pjob_out, code=code))
    pool_out = os.path.join(root, f"pool-out-{files}-{size}.txt")
    pool_cmd = [bl.python(), os.path.join(code, "pool_baseline.py"), data, str(size), pool_out]
    pjob_cmd = [
        os.path.join(os.path.dirname(bl.python()), "pjob"),
        "run",
        yml,
        "--runs-dir",
        os.path.join(root, "runs"),
        "--fresh",
    ]
    first = os.path.join(root, "first-run")
    res: dict = {"pool": [], "pjob": [], "pool_first": [], "pjob_first": []}
    for n in range(repeat):
        order = (("pool", pool_cmd), ("pjob", pjob_cmd))
        for who, cmd in order if n % 2 == 0 else order[::-1]:  # neither always runs after the other
            wall, first_s = bl.run_timed(cmd, root, first, env=env if who == "pjob" else None)
            res[who].append(wall)
            res[f"{who}_first"].append(first_s)
        bl.same_bytes(pool_out, pjob_out)
    return res


PYDANTIC = "from pydantic import BaseModel, Field, field_validator, model_validator"

# the engine alone: the parallel step of a run already made, started straight from its task JSON
# (no YAML, no spec models, no validation, no run folder bookkeeping): how far a start without them gets
ENGINE_ONLY = """
import sys
from pjob.engine.task import ParallelTask
from pjob.local import parallel_step
with open(sys.argv[1], encoding="utf-8") as f:
    task = ParallelTask.from_json(f.read())
sys.exit(0 if parallel_step.run_parallel_step(task, fresh=True).status == "Succeeded" else 1)
"""


def engine_only(root: str, files: int, size: int, repeat: int, env: dict | None = None) -> list[float]:
    """Seconds to the first run() of the engine alone (``ENGINE_ONLY``) on the
    task of the ``pjob run`` measured above, ``repeat`` times."""
    task = os.path.join(root, "runs", f"bench-{files}-{size}", "steps", "score", "work", "task.json")
    copy = os.path.join(root, f"task-{files}-{size}.json")
    shutil.copyfile(task, copy)
    cmd = [bl.python(), "-c", ENGINE_ONLY, copy]
    return [
        t for t in (bl.run_timed(cmd, root, os.path.join(root, "first-run"), env=env)[1] for _ in range(repeat)) if t
    ]


def startup_breakdown(root: str, repeat: int, env: dict | None = None) -> tuple[str, float]:
    """(what starting Python and pjob costs, the median seconds of Python +
    importing pydantic alone: the floor of any run that validates its spec)."""
    bare = [bl.run_timed([bl.python(), "-c", "pass"], root)[0] for _ in range(repeat)]
    pydantic = [bl.run_timed([bl.python(), "-c", PYDANTIC], root)[0] for _ in range(repeat)]
    cli = [bl.run_timed([bl.python(), "-c", "import pjob.local.run_cmd"], root, env=env)[0] for _ in range(repeat)]
    return (
        f"bare Python {bl.spread(bare)}s, Python + import pydantic {bl.spread(pydantic)}s, "
        f"Python + import pjob.local.run_cmd {bl.spread(cli)}s"
    ), bl.med(pydantic)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="20000,100000", help="the two input sizes (files)")
    parser.add_argument("--mb", default="10,1", help="mini-batch sizes (files per mini-batch)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="keep the working folder here")
    parser.add_argument(
        "--pjob-code",
        metavar="DIR",
        help="run the pjob package found in DIR (e.g. an older commit's operator/ from git archive) instead of "
        "the installed one, to compare two versions in the same conditions",
    )
    parser.add_argument(
        "--first-run-only", action="store_true", help="only the time to the first run() (first --mb size, no slopes)"
    )
    args = parser.parse_args()
    small, large = (int(s) for s in args.files.split(","))
    root = args.keep or tempfile.mkdtemp(prefix="pjob-bench-")
    os.makedirs(root, exist_ok=True)
    code = os.path.join(root, "code")
    os.makedirs(code, exist_ok=True)
    with open(os.path.join(code, "score.py"), "w") as f:
        f.write(textwrap.dedent(ENTRY_SCRIPT))
    with open(os.path.join(code, "pool_baseline.py"), "w") as f:
        f.write(textwrap.dedent(POOL_SCRIPT))
    bl.compile_pjob(args.pjob_code)
    env = dict(os.environ, PYTHONPATH=os.path.abspath(args.pjob_code)) if args.pjob_code else None
    print(
        f"overhead: pjob run vs multiprocessing.Pool, 2 workers, {small:,} and {large:,} files, "
        f"{args.repeat} alternating runs each, median [min-max]; {bl.load()}"
        + (f"; pjob from {args.pjob_code}" if args.pjob_code else "")
    )
    ok = True
    firsts: dict[str, list[float]] = {"pool": [], "pjob": []}
    by_files: dict[int, dict[str, list[float]]] = {small: {"pool": [], "pjob": []}, large: {"pool": [], "pjob": []}}
    sizes = [int(s) for s in args.mb.split(",")]
    for size in sizes[:1] if args.first_run_only else sizes:
        r1 = measure(root, code, small, size, args.repeat, env)
        r2 = measure(root, code, large, size, args.repeat, env)
        for files, r in ((small, r1), (large, r2)):
            for who in ("pool", "pjob"):
                by_files[files][who] += [t for t in r[f"{who}_first"] if t is not None]
        if args.first_run_only:
            firsts = {who: by_files[small][who] + by_files[large][who] for who in firsts}
            continue
        n1, n2 = -(-small // size), -(-large // size)
        print(f"mini-batches of {size}: {n1:,} and {n2:,} mini-batches")
        fitted = {}
        for who in ("pool", "pjob"):
            fitted[who] = bl.fit(n1, bl.med(r1[who]), n2, bl.med(r2[who]))
            firsts[who] += [t for t in r1[f"{who}_first"] + r2[f"{who}_first"] if t is not None]
            print(
                f"  {who:4}: wall {bl.spread(r1[who])}s and {bl.spread(r2[who])}s -> intercept "
                f"{fitted[who][0]:.3f}s, slope {fitted[who][1] * 1e6:.1f}µs per mini-batch"
            )
        if fitted["pool"][1] > 0:
            ok &= bl.verdict(
                f"slope, mini-batches of {size}, pjob/Pool",
                fitted["pjob"][1] / fitted["pool"][1],
                SLOPE_TARGETS.get(size, float("inf")),
            )
        else:
            print(
                f"  FAIL  Pool's slope is not positive (mini-batches of {size}): too noisy to fit, run again "
                "with more --repeat or larger --files"
            )
            ok = False
    pool_first, pjob_first = bl.med(firsts["pool"]), bl.med(firsts["pjob"])
    print(
        f"time from command start to the first run(): Pool {bl.spread(firsts['pool'], 1e3, '.0f')}ms, "
        f"pjob run {bl.spread(firsts['pjob'], 1e3, '.0f')}ms (all runs above)"
    )
    for files, r in by_files.items():
        if r["pool"] and r["pjob"]:
            print(
                f"  {files:,} files: Pool {bl.spread(r['pool'], 1e3, '.0f')}ms, pjob run "
                f"{bl.spread(r['pjob'], 1e3, '.0f')}ms ({bl.med(r['pjob']) / bl.med(r['pool']):.2f}x)"
            )
    ok &= bl.verdict("time to first run(), pjob/Pool", pjob_first / pool_first, FIRST_RUN_TARGET)
    breakdown, pydantic_s = startup_breakdown(root, max(3, args.repeat), env)
    pool_small = bl.med(by_files[small]["pool"]) if by_files[small]["pool"] else pool_first
    print(
        f"  floor: Python + importing pydantic alone (every run validates its job with it before user code runs) "
        f"takes {pydantic_s * 1e3:.0f} ms = {pydantic_s / pool_small:.2f}x the Pool's whole time to its first run() "
        f"at {small:,} files"
    )
    engine = engine_only(root, small, sizes[0], max(3, args.repeat), env)
    if engine:
        print(
            f"  the engine alone (the step started straight from its task JSON: no YAML, spec models or validation) "
            f"at {small:,} files: {bl.spread(engine, 1e3, '.0f')}ms = {bl.med(engine) / pool_small:.2f}x the Pool's"
        )
    print(f"for scale: {breakdown}; at the end: {bl.load()}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
