"""Engine overhead benchmark (issue 4 acceptance): pjob over 20,000 small files
with 2 workers, against a plain ``multiprocessing.Pool`` script doing the same
work, both started as fresh processes; mini-batches of 10 and of 1 file.

    .venv/bin/python bench/overhead.py [--files 20000] [--repeat 3] [--keep DIR]

pjob runs through the ``pjob run`` CLI (a one-step pipeline YAML; the
acceptance number) and, for comparison, through a ``python -c`` launcher of
``run_parallel_step`` (the engine without the CLI's YAML/spec loading). The
baseline maps the same ``run(mini_batch)`` function over the same mini-batches
with ``Pool(2).imap`` (ordered, like pjob's output) and writes the returned rows
to one file. Both outputs must be identical. Prints wall times and ratios;
targets: <= 1.25x (mini-batches of 10), <= 2x (mini-batches of 1). Also prints
the floor of any `pjob run`: the same Pool script made to validate the YAML
with ``pjob.spec`` before it starts (as `pjob run` must before user code runs).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

TARGETS = {10: 1.25, 1: 2.0}

ENTRY_SCRIPT = '''
import hashlib, os, time

WORK_US = 0

def init():
    pass

def run(mini_batch):
    rows = []
    for path in mini_batch:
        with open(path, "rb") as f:
            data = f.read()
        if WORK_US:
            until = time.perf_counter() + WORK_US / 1e6
            while time.perf_counter() < until:
                pass
        rows.append(f"{os.path.basename(path)} {len(data.split())} {hashlib.sha1(data).hexdigest()}")
    return rows
'''

POOL_SCRIPT = '''
import multiprocessing, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score import run

def main():
    folder, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if len(sys.argv) > 4:  # the floor of any `pjob run`: validate the YAML with pjob's spec first
        from pjob.spec import checks
        checks.load_and_check(sys.argv[4])
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder))
    batches = [paths[i:i + size] for i in range(0, len(paths), size)]
    with multiprocessing.Pool(2) as pool, open(out, "w") as f:
        for rows in pool.imap(run, batches):
            f.write("".join(f"{r}\\n" for r in rows))

if __name__ == "__main__":
    main()
'''

PIPELINE = '''
type: pipeline
name: bench-{size}
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
'''

LAUNCHER = '''
import sys
from pjob.engine.task import ParallelTask
from pjob.local import parallel
task = ParallelTask(step="score", job="bench", code_dir=sys.argv[1], entry_script="score.py", argv=[], env={{}},
    input_type="uri_folder", input_uri=sys.argv[2], mini_batch_size=sys.argv[3], partition_keys=None,
    output_dir=sys.argv[4], append_row_to=sys.argv[4] + "/out.txt", logs_dir=sys.argv[5] + "/logs",
    work_dir=sys.argv[5] + "/work", max_concurrency_per_instance=2)
sys.exit(0 if parallel.run_parallel_step(task, fresh=True).succeeded else 1)
'''


def make_files(folder: str, n: int) -> None:
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        with open(os.path.join(folder, f"doc{i:06d}.txt"), "w") as f:
            f.write(f"document {i} " + "lorem ipsum dolor sit amet " * 3 + "\n")


def timed(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


def pjob_cli_works(root: str) -> bool:
    pjob = shutil.which("pjob") or os.path.join(os.path.dirname(sys.executable), "pjob")
    return os.path.exists(pjob) and subprocess.run([pjob, "run", "--help"], capture_output=True).returncode == 0


def run_pjob(root: str, data: str, code: str, size: int, use_cli: bool) -> tuple[float, str]:
    if use_cli:
        out = os.path.join(root, f"pjob-out-{size}.txt")
        yml = os.path.join(root, f"pipeline-{size}.yml")
        with open(yml, "w") as f:
            f.write(PIPELINE.format(size=size, data=data, out=out, code=code))
        pjob = os.path.join(os.path.dirname(sys.executable), "pjob")
        seconds = timed([pjob, "run", yml, "--runs-dir", os.path.join(root, "runs"), "--fresh"], root)
        return seconds, out
    out_dir = os.path.join(root, f"pjob-out-{size}")
    seconds = timed([sys.executable, "-c", LAUNCHER.format(), code, data, str(size), out_dir,
                     os.path.join(root, f"pjob-step-{size}")], root)
    return seconds, os.path.join(out_dir, "out.txt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="10,1")
    parser.add_argument("--keep", help="keep the working folder here")
    parser.add_argument("--mode", choices=("cli", "launcher", "both"), default="both",
                        help="how pjob is started (default both; cli falls back to launcher when `pjob run` is missing)")
    parser.add_argument("--work-us", type=int, default=0,
                        help="extra CPU work per file in microseconds (simulated scoring), same in both")
    args = parser.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="pjob-bench-")
    os.makedirs(root, exist_ok=True)
    data, code = os.path.join(root, "data"), os.path.join(root, "code")
    if not os.path.isdir(data) or len(os.listdir(data)) != args.files:
        shutil.rmtree(data, ignore_errors=True)
        make_files(data, args.files)
    os.makedirs(code, exist_ok=True)
    with open(os.path.join(code, "score.py"), "w") as f:
        f.write(textwrap.dedent(ENTRY_SCRIPT).replace("WORK_US = 0", f"WORK_US = {args.work_us}"))
    with open(os.path.join(code, "pool_baseline.py"), "w") as f:
        f.write(textwrap.dedent(POOL_SCRIPT))
    # pjob is installed editable here: give it the bytecode a regular (pip/image) install has,
    # or a shell with PYTHONDONTWRITEBYTECODE=1 makes every start recompile pjob from source
    compileall.compile_dir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "operator"), quiet=1)
    modes = {"cli": [True], "launcher": [False], "both": [True, False]}[args.mode]
    if not pjob_cli_works(root):
        modes = [False]
    print(f"{args.files} files, 2 workers, {args.repeat} runs each (median), {args.work_us} us extra work per file; "
          f"folder {root}; load average {os.getloadavg()[0]:.1f} (other processes skew both sides)")
    failures = 0
    for size in [int(s) for s in args.sizes.split(",")]:
        pool_times: list[float] = []
        pjob_times: dict[bool, list[float]] = {m: [] for m in modes}
        for _ in range(args.repeat):
            pool_out = os.path.join(root, f"pool-out-{size}.txt")
            pool_times.append(timed([sys.executable, os.path.join(code, "pool_baseline.py"), data, str(size),
                                     pool_out], root))
            for use_cli in modes:
                seconds, pjob_out = run_pjob(root, data, code, size, use_cli)
                pjob_times[use_cli].append(seconds)
                with open(pool_out, "rb") as a, open(pjob_out, "rb") as b:
                    if a.read() != b.read():
                        raise RuntimeError(f"outputs differ: {pool_out} vs {pjob_out}")
        pool_s = statistics.median(pool_times)
        target = TARGETS.get(size, float("inf"))
        if True in modes:  # the same Pool script, validating pjob's YAML before it starts: a floor for `pjob run`
            floor_s = statistics.median(
                timed([sys.executable, os.path.join(code, "pool_baseline.py"), data, str(size),
                       os.path.join(root, f"pool-floor-{size}.txt"), os.path.join(root, f"pipeline-{size}.yml")], root)
                for _ in range(args.repeat))
            print(f"mini_batch_size={size:>2} Pool that first validates the YAML with pjob.spec (the floor of "
                  f"`pjob run`): {floor_s:.2f}s = {floor_s / pool_s:.2f}x")
        for use_cli in modes:
            pjob_s = statistics.median(pjob_times[use_cli])
            ratio = pjob_s / pool_s
            ok = ratio <= target
            failures += (not ok) and use_cli == modes[0]
            print(f"mini_batch_size={size:>2} {'pjob run' if use_cli else 'engine  '}: pool {pool_s:6.2f}s  "
                  f"pjob {pjob_s:6.2f}s  ratio {ratio:4.2f}x (target <= {target:g}x) {'OK' if ok else 'OVER'}   "
                  f"[pool {', '.join(f'{t:.2f}' for t in pool_times)} | "
                  f"pjob {', '.join(f'{t:.2f}' for t in pjob_times[use_cli])}]")
    if True in modes:
        floor = statistics.median(timed([sys.executable, "-c", "import pjob.spec.models"], root)
                                  for _ in range(args.repeat))
        bare = statistics.median(timed([sys.executable, "-c", "pass"], root) for _ in range(args.repeat))
        print(f"for scale: a fresh Python that only imports pjob's spec models (pydantic) takes {floor:.2f}s, "
              f"a bare Python {bare:.2f}s; every `pjob run` validates the YAML with them before it starts")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
