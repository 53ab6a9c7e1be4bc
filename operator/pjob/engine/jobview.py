"""What ``pjob status``, ``pjob logs`` and ``pjob failed`` print, as pure
functions over a job object shaped like the cluster's custom resources
(``kind``, ``metadata``, ``status`` with ``state``/``conditions``/``steps``/
``miniBatches``/``items``) and over a step's log folder. One formatter for
both places a job can live: ``pjob.kube.client_view`` passes the CR it read,
``pjob.local.runview`` builds the same shape from a local run folder.
"""

from __future__ import annotations

import csv
import glob
import os
import re
from typing import Any

from pjob.engine import logtree

# condition types and states, as in pjob.kube.constants (this layer cannot import it)
SUCCEEDED, FAILED, RUNNING, PENDING, TRUE = "Succeeded", "Failed", "Running", "Pending", "True"


def conditions_by_type(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {x.get("type"): x for x in status.get("conditions") or []}


def _true(conditions: list[dict[str, Any]] | None, type_: str) -> bool:
    found = next((x for x in conditions or [] if x.get("type") == type_), None)
    return bool(found and found.get("status") == TRUE)


def terminal_state(conditions: list[dict[str, Any]] | None) -> str | None:
    """``Succeeded``/``Failed`` once a job reached one (that condition is
    True), else None: THE answer to "is it terminal?", for the operator
    (``pjob.kube.conditions.terminal``), ``pjob status --follow`` and local runs."""
    return next((kind for kind in (SUCCEEDED, FAILED) if _true(conditions, kind)), None)


def state_of(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    if status.get("state"):
        return str(status["state"])
    conditions = status.get("conditions")
    return terminal_state(conditions) or (RUNNING if _true(conditions, RUNNING) else PENDING)


def terminal(obj: dict[str, Any]) -> bool:
    return terminal_state((obj.get("status") or {}).get("conditions")) is not None


def progress_text(status: dict[str, Any]) -> str:
    mb = status.get("miniBatches") or {}
    if not mb:
        return status.get("progress") or "-"
    items = status.get("items") or {}
    return (
        f"{mb.get('done', 0)}/{mb.get('total', '?')} mini-batches done, {mb.get('failed', 0)} failed; "
        f"items {items.get('succeeded', 0)} succeeded, {items.get('failed', 0)} failed"
    )


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n" for r in rows)


def format_status(obj: dict[str, Any], children: dict[str, dict[str, Any]], events: list[dict[str, Any]]) -> str:
    """What ``pjob status`` prints (pure)."""
    meta, status = obj["metadata"], obj.get("status") or {}
    where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]  # local runs: no namespace
    lines = [f"{obj['kind']} {where}", f"State:     {state_of(obj)}", f"Progress:  {progress_text(status)}"]
    for key, label in (("startTime", "Started:   "), ("completionTime", "Completed: "), ("logs", "Logs:      ")):
        if status.get(key):
            lines.append(f"{label}{status[key]}")
    text = "\n".join(lines) + "\n"
    if status.get("outputs"):
        text += "Outputs:\n" + "".join(f"  {k}: {v}\n" for k, v in sorted(status["outputs"].items()))
    if status.get("conditions"):
        rows = [["TYPE", "STATUS", "REASON", "MESSAGE"]] + [
            [
                x.get("type", ""),
                x.get("status", ""),
                x.get("reason", ""),
                (x.get("message") or "").replace("\n", " ")[:200],
            ]
            for x in status["conditions"]
        ]
        text += "Conditions:\n" + table(rows)
    if status.get("steps"):
        rows = [["STEP", "KIND", "STATE", "CHILD", "PROGRESS", "MESSAGE"]]
        for step, entry in status["steps"].items():
            child = children.get(step) or {}
            rows.append(
                [
                    step,
                    entry.get("kind", ""),
                    entry.get("state", ""),
                    entry.get("child", ""),
                    progress_text(child.get("status") or {}) if child else "-",
                    (entry.get("message") or "")[:120],
                ]
            )
        text += "Steps:\n" + table(rows)
    if events:
        rows = [["LAST SEEN", "TYPE", "REASON", "MESSAGE"]] + [
            [event_time(e), e.get("type", ""), e.get("reason", ""), (e.get("message") or "").replace("\n", " ")[:160]]
            for e in events
        ]
        text += "Events:\n" + table(rows)
    return text


def event_time(e: dict[str, Any]) -> str:
    return e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or ""


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _timestamped(line: str) -> bool:
    return bool(re.match(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d", line))


def mini_batch_log(logs: str, index: int) -> str | None:
    """One mini-batch's attempts: report rows, then the matching records of
    sys/node/<node>/<proc>.txt and user/error/<node>/<proc>.txt (pure over files)."""
    tree = logtree.LogTree(logs)
    reports = (
        [tree.job_report]
        if os.path.isfile(tree.job_report)
        else sorted(glob.glob(os.path.join(os.path.dirname(logs.rstrip("/")), "work", "report", "*.csv")))
    )
    rows = []
    for path in reports:
        with open(path, newline="", encoding="utf-8") as fh:
            rows += [dict(zip(logtree.REPORT_COLUMNS, r)) for r in csv.reader(fh) if r and r[0] == str(index)]
    if not rows:
        return None
    mark = f"mini-batch {index} attempt "
    out = []
    for proc in dict.fromkeys(r["process"] for r in rows):
        node, _, name = proc.partition("/")
        out.append(f"== node {node} {name}")
        for row in (r for r in rows if r["process"] == proc):
            out.append(
                f"attempt {row['picked_count']}: {row['status']} {row['succeeded_items']}/{row['total_items']} "
                f"items, started {row['start_time']}" + (f" - {row['error']}" if row.get("error") else "")
            )
        for label, path in (("sys/node", tree.node_process(node, name)), ("user/error", tree.user_error(node, name))):
            keep, taken = False, []
            for line in (read_text(path) or "").splitlines():
                keep = (mark in line) if _timestamped(line) else keep
                if keep:
                    taken.append(line)
            if taken:
                out.append(f"-- {label}/{node}/{name}.txt")
                out += taken
        out.append(f"(print() output: user/stdout/{node}/{name}.stdout.txt, user/stderr/{node}/{name}.stderr.txt)")
    return "\n".join(out) + "\n"
