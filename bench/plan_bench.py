"""Planning benchmark for pjob.data (not run by CI; a smoke test runs it tiny).

Generates, in a temporary folder:
- a CSV of ``--csv-mb`` MiB (default 1024) planned into ``--csv-batch`` (10mb)
  mini-batches, timed beside ``wc -l`` on the same file;
- a folder of ``--files`` small files (default 100,000) in 100 sub-folders,
  planned 10 files per mini-batch, timed beside ``find`` on the same folder;
- the acceptance point: a ``--check-mb`` MiB CSV (default 400) planned into
  10mb mini-batches must give about size/10mb mini-batches and stay under
  ``--check-rss-mb`` (300) peak RSS.

Each planning run is a fresh child process so its peak RSS is its own:
measured with ``/usr/bin/time -f %M`` when present, else the child's
``ru_maxrss``. Exit code 1 when the acceptance check fails.

    .venv/bin/python bench/plan_bench.py            # full size (needs ~1.5 GB of /tmp)
    .venv/bin/python bench/plan_bench.py --csv-mb 8 --files 2000 --check-mb 8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pjob.data
plan = pjob.data.plan(sys.argv[1], sys.argv[2], sys.argv[3], None)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "mini_batches": len(plan.mini_batches), "items": plan.items,
                  "child_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "pandas_imported": "pandas" in sys.modules}))
"""


def write_csv(path: str, size_mb: int) -> None:
    """About ``size_mb`` MiB of rows with quoted fields (ends on a line break)."""
    row = '{i},customer {i},{f:.4f},2024-01-{d:02d},"quoted, text {i}"\n'
    block = "".join(row.format(i=i, f=i * 0.37, d=i % 28 + 1) for i in range(20000)).encode()
    target = size_mb << 20
    with open(path, "wb") as fh:
        written = fh.write(b"id,name,amount,day,note\n")
        while written + len(block) <= target:
            written += fh.write(block)
        rest = block[: target - written]
        fh.write(rest[: rest.rfind(b"\n") + 1])


def write_folder(root: str, count: int) -> None:
    for i in range(count):
        folder = os.path.join(root, f"d{i % 100:03d}")
        if i < 100:
            os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"f{i:07d}.txt"), "w") as fh:
            fh.write("x")


def write_mltable(folder: str, csv_name: str, multi_line: bool) -> None:
    with open(os.path.join(folder, "MLTable"), "w") as fh:
        fh.write(
            f"paths:\n  - file: ./{csv_name}\ntransformations:\n"
            f"  - read_delimited:\n      support_multi_line: {str(multi_line).lower()}\n"
        )


def plan_in_child(input_type: str, path: str, size: str) -> dict:
    cmd = [sys.executable, "-c", CHILD, input_type, path, size]
    if os.path.exists("/usr/bin/time"):
        out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["peak_rss_mb"] = int(out.stderr.strip().splitlines()[-1]) / 1024
        result["rss_source"] = "/usr/bin/time -f %M"
    else:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["peak_rss_mb"] = result["child_maxrss_kb"] / 1024
        result["rss_source"] = "ru_maxrss"
    return result


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv-mb", type=int, default=1024)
    parser.add_argument("--csv-batch", default="10mb")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--check-mb", type=int, default=400)
    parser.add_argument("--check-rss-mb", type=float, default=300)
    parser.add_argument("--tmp", default=None, help="where to generate inputs (default: system temp)")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="pjob-plan-bench-", dir=args.tmp)
    ok = True
    try:
        big = os.path.join(work, "big")
        os.makedirs(big)
        write_csv(os.path.join(big, "data.csv"), args.csv_mb)
        wc = timed(["wc", "-l", os.path.join(big, "data.csv")])
        for multi_line in (False, True):
            write_mltable(big, "data.csv", multi_line)
            res = plan_in_child("mltable", big, args.csv_batch)
            print(
                f"CSV {args.csv_mb} MiB (support_multi_line={multi_line}) -> {res['mini_batches']} mini-batches of {args.csv_batch}: "
                f"plan {res['seconds']:.2f}s, peak RSS {res['peak_rss_mb']:.0f} MB; wc -l {wc:.2f}s; "
                f"plan/wc = {res['seconds'] / max(wc, 1e-6):.1f}x"
            )

        folder = os.path.join(work, "files")
        write_folder(folder, args.files)
        find = timed(["find", folder, "-type", "f"])
        res = plan_in_child("uri_folder", folder, "10")
        print(
            f"folder of {args.files} files -> {res['mini_batches']} mini-batches: plan {res['seconds']:.2f}s, "
            f"peak RSS {res['peak_rss_mb']:.0f} MB, pandas imported: {res['pandas_imported']}; find {find:.2f}s; "
            f"plan/find = {res['seconds'] / max(find, 1e-6):.1f}x"
        )
        ok &= not res["pandas_imported"]

        check = os.path.join(work, "check")
        os.makedirs(check)
        write_csv(os.path.join(check, "data.csv"), args.check_mb)
        write_mltable(check, "data.csv", multi_line=True)  # the costlier mode: streams the file
        res = plan_in_child("mltable", check, "10mb")
        expected = args.check_mb / 10
        passed = res["peak_rss_mb"] < args.check_rss_mb and abs(res["mini_batches"] - expected) <= max(
            2, expected * 0.05
        )
        print(
            f"check: {args.check_mb} MiB CSV / 10mb -> {res['mini_batches']} mini-batches (expected ~{expected:.0f}), "
            f"peak RSS {res['peak_rss_mb']:.0f} MB ({res['rss_source']}) < {args.check_rss_mb:.0f} MB: {'PASS' if passed else 'FAIL'}"
        )
        ok &= passed
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
