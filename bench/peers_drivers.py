"""Driver scripts of ``bench/peers.py``: the same three workloads written for
``pjob run``, a ``multiprocessing.Pool`` script, Ray Data and Dask, each run
as a fresh process (``python DRIVER.py TOOL WORKLOAD ARGS...``).

Workloads (every tool runs the same user function):
- ``files``: a folder of small files in mini-batches of N; per file one line
  ``name words sha1``; output one text file in input order.
- ``cpu``: one file per mini-batch, ~5 ms of pure-Python work each.
- ``csv``: one CSV file in blocks of about 10 MB; a ``score`` column is added
  to every row; output CSV rows (pjob: its append_row format, space separated).

Ray Data: ``map_batches`` with a callable class, ``concurrency=W``. Dask:
``dask.bag`` for the files, ``dask.dataframe.read_csv(blocksize=...)`` for
the table, on a ``distributed.LocalCluster`` of W single-threaded processes.
"""

from __future__ import annotations

import hashlib
import os
import sys

LOOPS = int(os.environ.get("PEERS_LOOPS", "70000"))


def score_file(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    return f"{os.path.basename(path)} {len(data.split())} {hashlib.sha1(data).hexdigest()}"


def spin_file(path: str) -> str:
    x = 0
    for i in range(LOOPS):
        x = (x * 31 + i) % 1000003
    return f"{os.path.basename(path)} {x}"


def score_frame(df):
    out = df.copy()
    out["score"] = out["amount"].to_numpy("float64") * 2 + out["id"].to_numpy("int64") % 7  # Ray's are Arrow-backed
    return out


ROW_FUNCS = {"files": score_file, "cpu": spin_file}

PJOB_ENTRY = """
import os, sys
sys.path.insert(0, {here!r})
import peers_drivers as d

def init():
    pass

def run(mini_batch):
    if {workload!r} == "csv":
        return d.score_frame(mini_batch)
    return [d.ROW_FUNCS[{workload!r}](p) for p in mini_batch]
"""

PJOB_FILES = """
type: parallel
name: peers-{workload}-{workers}
inputs:
  data: {{type: {input_type}, path: {data}}}
outputs:
  out: {{type: uri_file, path: {out}}}
input_data: ${{{{inputs.data}}}}
mini_batch_size: "{size}"
max_concurrency_per_instance: {workers}
task:
  type: run_function
  code: {code}
  entry_script: score.py
  append_row_to: ${{{{outputs.out}}}}
"""


def paths_of(folder: str) -> list[str]:
    return sorted(os.path.join(folder, n) for n in os.listdir(folder))


def write_lines(out: str, lines) -> None:
    with open(out, "w") as f:
        f.write("".join(f"{line}\n" for line in lines))


def run_pool(workload, data, size, workers, out):
    import multiprocessing

    if workload == "csv":  # the driver reads ~size-byte chunks and pickles them to the workers
        import pandas as pd

        with open(data, "rb") as f:
            head = f.read(1 << 20)
        rows = max(1, size // max(1, len(head) // max(1, head.count(b"\n"))))
        with multiprocessing.Pool(workers) as pool, open(out, "w") as f:
            for frame in pool.imap(score_frame, pd.read_csv(data, chunksize=rows)):
                f.write(frame.to_csv(sep=" ", header=None, index=None))
        return
    paths = paths_of(data)
    batches = [paths[i : i + size] for i in range(0, len(paths), size)]
    with multiprocessing.Pool(workers) as pool:
        write_lines(out, (row for rows in pool.imap(_pool_batch, [(workload, b) for b in batches]) for row in rows))


def _pool_batch(arg):
    workload, batch = arg
    return [ROW_FUNCS[workload](p) for p in batch]


class RayScorer:
    def __init__(self, workload: str):
        self.workload = workload

    def __call__(self, batch):
        if self.workload == "csv":
            return score_frame(batch)
        import numpy as np

        return {"row": np.array([ROW_FUNCS[self.workload](p) for p in batch["path"]], dtype=object)}


def run_ray(workload, data, size, workers, out):
    import ray

    # the table: read tasks need a CPU of their own beside the `workers` actors, or Ray Data waits forever
    ray.init(num_cpus=workers + (workload == "csv"), include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    if workload == "csv":
        ds = ray.data.read_csv(data, override_num_blocks=max(1, os.path.getsize(data) // size))
        ds = ds.map_batches(
            RayScorer, fn_constructor_args=(workload,), concurrency=workers, batch_format="pandas", batch_size=None
        )
        ds.write_csv(out)
    else:
        ds = ray.data.from_items([{"path": p} for p in paths_of(data)])
        ds = ds.map_batches(
            RayScorer, fn_constructor_args=(workload,), concurrency=workers, batch_size=size, batch_format="numpy"
        )
        with open(out, "w") as f:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                f.write("".join(f"{r}\n" for r in batch["row"]))
    ray.shutdown()


def run_dask(workload, data, size, workers, out):
    import dask
    from distributed import Client, LocalCluster

    dask.config.set({"distributed.worker.daemon": False})
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        if workload == "csv":
            import dask.dataframe as dd

            df = dd.read_csv(data, blocksize=size)
            df.map_partitions(score_frame).to_csv(os.path.join(out, "part-*.csv"), index=False)
        else:
            import dask.bag as db

            bag = db.from_sequence(paths_of(data), partition_size=size).map(ROW_FUNCS[workload])
            write_lines(out, bag.compute())


def run_pjob(workload, data, size, workers, out):
    import tempfile

    root = tempfile.mkdtemp(prefix="peers-pjob-", dir=os.path.dirname(out))  # removed with peers.py's folder
    code = os.path.join(root, "code")
    os.makedirs(code)
    with open(os.path.join(code, "score.py"), "w") as f:
        f.write(PJOB_ENTRY.format(here=os.path.dirname(os.path.abspath(__file__)), workload=workload))
    if workload == "csv":
        folder = os.path.join(root, "table")
        os.makedirs(folder)
        with open(os.path.join(folder, "MLTable"), "w") as f:
            f.write(
                f"paths:\n  - file: {data}\ntransformations:\n  - read_delimited:\n      delimiter: ','\n"
                f"      header: all_files_same_headers\n"
            )
        data, input_type, size = folder, "mltable", f"{size // 1000000}mb"
    else:
        input_type = "uri_folder"
    yml = os.path.join(root, "job.yml")
    with open(yml, "w") as f:
        f.write(
            PJOB_FILES.format(
                workload=workload, workers=workers, input_type=input_type, data=data, out=out, size=size, code=code
            )
        )
    pjob = os.path.join(os.path.dirname(sys.executable), "pjob")
    # become `pjob run` (exec): the memory measured is pjob's processes only, not this launcher's
    os.execv(pjob, [pjob, "run", yml, "--runs-dir", os.path.join(root, "runs"), "--fresh"])


TOOLS = {"pool": run_pool, "ray": run_ray, "dask": run_dask, "pjob": run_pjob}

if __name__ == "__main__":
    tool, workload, data, size, workers, out = sys.argv[1:7]
    TOOLS[tool](workload, data, int(size), int(workers), out)
