"""What the job page shows, as JSON-ready dicts: the runs in a runs folder
and, per run, the step graph with states, each step's settings, counters,
workers, failed mini-batches (error, traceback, replay command) and its log
tree. Reads run folders through ``pjob.local.runview``; never writes.
Called by ``pjob.ui.server``.
"""

from __future__ import annotations

import os
import re
import time

from pjob.engine import activity, jobview
from pjob.local import runview

SETTINGS = (
    "input_data",
    "mini_batch_size",
    "partition_keys",
    "max_concurrency_per_instance",
    "error_threshold",
    "mini_batch_error_threshold",
    "logging_level",
    "retry_settings",
    "resources",
    "environment_variables",
    "program_arguments",
    "compute",
)
MAX_FILES = 500
MAX_FAILED = 100


def runs(runs_dir: str) -> list[dict]:
    out = []
    for run in runview.list_runs(runs_dir):
        obj, children = runview.run_object(run)
        out.append(
            {
                "name": obj["metadata"]["name"],
                "state": obj["status"]["state"],
                "progress": {n: jobview.progress_text(c["status"]) for n, c in children.items()},
                "steps": {n: s["state"] for n, s in obj["status"]["steps"].items()},
            }
        )
    return out


def needs(spec: dict) -> list[str]:
    """The steps whose outputs ``spec`` binds (``${{parent.jobs.X.outputs.Y}}``)."""
    return sorted(set(re.findall(r"parent\.jobs\.([A-Za-z0-9_.-]+?)\.outputs", repr(spec))))


def settings(spec: dict) -> dict:
    out = {k: spec[k] for k in SETTINGS if spec.get(k) not in (None, {}, [])}
    task = spec.get("task") or {}
    for key in ("entry_script", "code", "append_row_to"):
        if task.get(key):
            out[f"task.{key}"] = task[key]
    if spec.get("type") == "command" and spec.get("command"):
        out["command"] = spec["command"]
    return out


def log_files(logs: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(logs):
        dirs.sort()
        for name in sorted(files):
            out.append(os.path.relpath(os.path.join(root, name), logs))
            if len(out) >= MAX_FILES:
                return out
    return out


def run_detail(run: str) -> dict:
    obj, children = runview.run_object(run)
    specs = runview.spec_steps(run)
    now = time.time()
    steps = []
    for name, entry in obj["status"]["steps"].items():
        spec = specs.get(name) or {}
        work, logs = runview.step_dirs(run, name)
        step = {
            "name": name,
            "kind": entry["kind"],
            "state": entry["state"],
            "message": entry.get("message", ""),
            "needs": needs(spec),
            "settings": settings(spec),
            "counters": None,
            "workers": [],
            "failed": [],
            "logs": logs,
            "files": log_files(logs),
        }
        child = children.get(name)
        if child:
            step["counters"] = {
                **child["status"]["miniBatches"],
                "items_succeeded": child["status"]["items"]["succeeded"],
                "items_failed": child["status"]["items"]["failed"],
                "attempts": child["status"]["attempts"],
            }
            if entry["state"] == "Running":
                step["workers"] = [
                    {
                        "node": d.get("node"),
                        "proc": w.get("proc"),
                        "state": w.get("state"),
                        "text": activity.describe(w, now),
                    }
                    for d in runview.workers(run, name)
                    for w in d.get("workers") or []
                ]
            failed = runview.failed(run, name)
            step["failed_count"] = len(failed)
            step["failed"] = [
                {**f, "items": f["items"][:20], "replay": runview.replay_command(run, name, f["index"])}
                for f in failed[:MAX_FAILED]
            ]
        steps.append(step)
    return {
        "name": obj["metadata"]["name"],
        "state": obj["status"]["state"],
        "run_dir": run,
        "time": now,
        "steps": steps,
    }


def read_log(run: str, rel: str, limit: int = 2_000_000) -> str | None:
    """A file of the run's log trees (``steps/<step>/logs/...``), or None when
    ``rel`` points anywhere else (the page can only read logs)."""
    steps = os.path.realpath(os.path.join(run, "steps"))
    path = os.path.realpath(os.path.join(run, rel))
    parts = os.path.relpath(path, steps).split(os.sep)
    if path.startswith(steps + os.sep) and len(parts) >= 3 and parts[1] == "logs" and os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(limit + 1)
        return text if len(text) <= limit else text[:limit] + "\n... (truncated)\n"
    return None
