"""``pjob inspect JOB.yml``: how each parallel step of a job will split its
input, without running anything: a table (step, input, type, items,
mini-batches, smallest/largest mini-batch), or a list of dicts for
``--json``. An input made by an upstream step is planned when that output
already exists (an earlier run) and reported as not made yet otherwise.
Called by ``pjob.data.inspect_cmd``.
"""

from __future__ import annotations

import os

import pjob.data
from pjob.data import uris
from pjob.spec import bindings, checks, models, resolve


def looks_like_job(path: str) -> bool:
    return path.lower().endswith((".yml", ".yaml")) and os.path.isfile(path)


def inspect_job(path: str, datastores: dict[str, str], runs_dir: str = "pjob-runs") -> list[dict]:
    loaded = checks.load_and_check(path)
    assert loaded.job is not None  # load_and_check raises on a job that did not load
    job = loaded.job.name or loaded.job.display_name or "job"
    outputs_root = os.path.abspath(os.path.join(runs_dir, job, "steps"))
    locations = resolve.Locations(
        outputs_root=outputs_root,
        locate=lambda p: uris.resolve_uri(p, datastores),
        job_name=job,
        default_datastore=loaded.job.settings.default_datastore or "default",
    )
    out = []
    for name, rstep in resolve.resolve_pipeline(loaded, locations).items():
        step = loaded.job.jobs[name]
        if not isinstance(step, models.ParallelStep):
            continue
        ref = bindings.whole_ref(step.input_data)
        assert ref is not None  # checks: input_data is one ${{inputs.<name>}}
        data = rstep.inputs.get(ref.name)
        row = {
            "step": name,
            "input": getattr(data, "location", str(data)),
            "type": getattr(data, "type", None),
            "mini_batch_size": step.mini_batch_size,
            "partition_keys": step.partition_keys,
            "items": None,
            "mini_batches": None,
            "smallest": None,
            "largest": None,
            "note": "",
        }
        run_dir = os.path.dirname(outputs_root)  # step outputs under steps/, pipeline outputs under outputs/
        if (
            isinstance(data, resolve.DataValue)
            and data.location.startswith(run_dir + os.sep)
            and not os.path.exists(data.location)
        ):
            row["note"] = "made by an upstream step: planned when that step has run"
        elif isinstance(data, resolve.DataValue):
            plan = pjob.data.plan(
                data.type, data.location, step.mini_batch_size, step.partition_keys, datastores=datastores
            )
            counts = [mb.items for mb in plan.mini_batches if mb.items >= 0]
            row.update(
                items=plan.items if plan.items >= 0 else (sum(counts) if counts else None),
                mini_batches=len(plan.mini_batches),
                smallest=min(counts) if counts else None,
                largest=max(counts) if counts else None,
                kind=plan.kind,
            )
        out.append(row)
    return out


def format_table(rows: list[dict]) -> str:
    table = [["STEP", "INPUT", "TYPE", "SPLIT BY", "ITEMS", "MINI-BATCHES", "SMALLEST", "LARGEST"]]
    notes = []
    for r in rows:
        split = (
            f"keys {','.join(r['partition_keys'])}"
            if r["partition_keys"]
            else f"size {r['mini_batch_size'] or '(default)'}"
        )
        table.append(
            [r["step"], r["input"], str(r["type"]), split]
            + ["-" if r[k] is None else str(r[k]) for k in ("items", "mini_batches", "smallest", "largest")]
        )
        if r["note"]:
            notes.append(f"{r['step']}: {r['note']}")
    if len(table) == 1:
        return "no parallel steps in this job\n"
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    text = "".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n" for row in table)
    return text + "".join(f"note: {n}\n" for n in notes)
