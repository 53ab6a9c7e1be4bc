"""A local run folder (``pjob-runs/<job>/``) as the same job object the
cluster commands read from a custom resource, so ``pjob status`` and
``pjob logs`` print the same shape for both (``pjob.engine.jobview``). Also
what the job page and ``pjob failed`` need: each step's counters from its
queue, its failed mini-batches with their items and errors.

Reads only; never takes a lock or changes a file. Called by
``pjob.local.runs_cmd`` and ``pjob.local.ui``.
"""

from __future__ import annotations

import json
import os

import yaml

from pjob.engine import activity, jobview, logtree, manifest

STATE_FILE = "state.json"


def is_run(path: str) -> bool:
    return os.path.isfile(os.path.join(path, STATE_FILE)) or os.path.isdir(os.path.join(path, "steps"))


def find_run(arg: str, runs_dir: str) -> str | None:
    """A run folder given as a path, or as a job name under ``runs_dir``."""
    for path in (arg, os.path.join(runs_dir, arg)):
        if os.path.isdir(path) and is_run(path):
            return os.path.abspath(path)
    return None


def list_runs(runs_dir: str) -> list[str]:
    if not os.path.isdir(runs_dir):
        return []
    return [
        os.path.join(runs_dir, n)
        for n in sorted(os.listdir(runs_dir))
        if not n.startswith(".") and n != "datastores" and is_run(os.path.join(runs_dir, n))
    ]


def _load(path: str, default):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh) if path.endswith(".json") else (yaml.safe_load(fh) or default)
    except (OSError, ValueError, yaml.YAMLError):
        return default


def alive(run_dir: str) -> bool:
    """A `pjob run` of this job is running now (the pid its lock file names)."""
    import psutil

    runs_dir, job = os.path.split(run_dir.rstrip(os.sep))
    try:
        with open(os.path.join(runs_dir, ".locks", f"{job}.lock"), encoding="utf-8") as fh:
            pid = int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return False
    return pid > 0 and psutil.pid_exists(pid) and pid != os.getpid()


def spec_steps(run_dir: str) -> dict[str, dict]:
    """The steps of the job as run (``spec.yaml``), in order."""
    spec = _load(os.path.join(run_dir, "spec.yaml"), {})
    if spec.get("type") == "pipeline" or "jobs" in spec:
        return dict(spec.get("jobs") or {})
    return {spec.get("name") or os.path.basename(run_dir): spec} if spec else {}


def step_dirs(run_dir: str, step: str) -> tuple[str, str]:
    """(work folder, logs folder) of a step."""
    base = os.path.join(run_dir, "steps", step)
    return os.path.join(base, "work"), os.path.join(base, "logs")


def counters(run_dir: str, step: str):
    """The step's queue counters (``coord.base.Progress``), or None before it was planned."""
    work, _ = step_dirs(run_dir, step)
    db = os.path.join(work, "queue.db")
    if not os.path.isfile(db):
        return None
    from pjob.coord.sqlite import SqliteCoordinator

    coord = SqliteCoordinator(db)
    try:
        return coord.counters()
    finally:
        coord.close()


def _why(job_result: str | None) -> str:
    for line in (jobview.read_text(job_result) or "").splitlines() if job_result else ():
        if line.startswith("why:"):
            return line[4:].strip()
    return ""


def run_object(run_dir: str) -> tuple[dict, dict[str, dict]]:
    """(job object, {step: child object with the step's counters}) in the cluster's shape."""
    state = _load(os.path.join(run_dir, STATE_FILE), {"steps": {}})
    running = alive(run_dir)
    steps, children, outputs = {}, {}, {}
    for name, spec in spec_steps(run_dir).items():
        entry = state.get("steps", {}).get(name) or {}
        st = entry.get("status") or "Pending"
        if st == "Running" and not running:
            st = "Interrupted"
        kind = (spec or {}).get("type", "parallel")
        steps[name] = {"kind": kind, "state": st, "child": "", "message": _why(entry.get("job_result"))}
        p = counters(run_dir, name) if kind == "parallel" else None
        if p is not None:
            children[name] = {
                "status": {
                    "miniBatches": {
                        "total": p.total,
                        "done": p.done,
                        "failed": p.failed,
                        "pending": p.pending,
                        "leased": p.leased,
                    },
                    "items": {"succeeded": p.items_succeeded, "failed": p.items_failed},
                    "attempts": p.attempts,
                }
            }
        if entry.get("output_file"):
            outputs[name] = entry["output_file"]
    states = [s["state"] for s in steps.values()]
    if running:
        overall = jobview.RUNNING
    elif "Failed" in states:
        overall = jobview.FAILED
    elif states and all(s == "Succeeded" for s in states):
        overall = jobview.SUCCEEDED
    elif any(s != "Pending" for s in states):
        overall = "Interrupted"
    else:
        overall = jobview.PENDING
    status = {
        "state": overall,
        "steps": steps,
        "logs": os.path.join(run_dir, "steps", "<step>", "logs"),
        "progress": f"{states.count('Succeeded')}/{len(states)} steps succeeded",
    }
    if outputs:
        status["outputs"] = outputs
    return {
        "kind": "PipelineJob",
        "metadata": {"name": os.path.basename(run_dir.rstrip(os.sep)), "namespace": None},
        "status": status,
    }, children


def workers(run_dir: str, step: str) -> list[dict]:
    return activity.read_all(step_dirs(run_dir, step)[0])


def failed(run_dir: str, step: str) -> list[dict]:
    """The step's failed mini-batches: index, attempts, items failed, paths or
    locator, error (with its traceback). From the queue, so also while it runs."""
    work, logs = step_dirs(run_dir, step)
    db = os.path.join(work, "queue.db")
    if not os.path.isfile(db):
        return []
    from pjob.coord.sqlite import SqliteCoordinator

    coord = SqliteCoordinator(db)
    try:
        records = coord.records(state="failed")
    finally:
        coord.close()
    try:
        _, lines = manifest.read_header_and_lines(manifest.path_in(work))
    except (OSError, ValueError, KeyError):
        lines = []
    out = []
    for rec in records:
        locator = json.loads(lines[rec.index]) if rec.index < len(lines) else {}
        out.append(
            {
                "index": rec.index,
                "attempts": rec.attempts,
                "items_succeeded": rec.items_succeeded,
                "items_failed": rec.items_failed,
                "items": locator.get("paths") or [],
                "locator": {k: v for k, v in locator.items() if k not in ("paths", "index")},
                "error": rec.error or "",
                "log": logtree.file_named_in(rec.error),
            }
        )
    return out


def replay_command(run_dir: str, step: str, index: int) -> str:
    return f"pjob replay {run_dir} --step {step} --mini-batch {index}"


def format_failed(run_dir: str, steps: list[str]) -> str:
    """What ``pjob failed`` prints (reads the queue; no writes)."""
    out = []
    for step in steps:
        rows = failed(run_dir, step)
        items = sum(r["items_failed"] for r in rows)
        out.append(f"step {step}: {len(rows)} failed mini-batch(es), {items} item(s) failed")
        for r in rows:
            out.append(
                f"  mini-batch {r['index']}: attempts {r['attempts']}, {r['items_failed']} item(s) failed, "
                f"{r['items_succeeded']} succeeded"
            )
            if r["items"]:
                shown = r["items"][:10]
                out.append(
                    "    items: "
                    + ", ".join(shown)
                    + (f" ... and {len(r['items']) - 10} more" if len(r["items"]) > 10 else "")
                )
            elif r["locator"]:
                out.append("    data: " + json.dumps(r["locator"], sort_keys=True))
            lines = r["error"].rstrip().splitlines() or ["(no error recorded)"]
            out.append(f"    error: {lines[0]}")
            out += [f"      {line}" for line in lines[1:]]
            if r["log"]:
                out.append(f"    log: {os.path.join(step_dirs(run_dir, step)[1], r['log'])}")
            out.append(f"    replay: {replay_command(run_dir, step, r['index'])}")
    return "\n".join(out) + "\n"
