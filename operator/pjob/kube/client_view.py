"""What ``pjob status`` and ``pjob logs`` show, as pure functions over a
custom resource and the datastore's log files: the status text, a job's
state, where its logs are, and one mini-batch's records. Called by
``pjob.kube.client_cmd``.
"""

from __future__ import annotations

import csv
import glob
import os
import re

from pjob.kube import constants as c
from pjob.spec import errors


def conditions_by_type(status: dict) -> dict[str, dict]:
    return {x.get("type"): x for x in status.get("conditions") or []}


def state_of(obj: dict) -> str:
    status = obj.get("status") or {}
    if status.get("state"):
        return status["state"]
    conds = conditions_by_type(status)
    for kind in (c.SUCCEEDED, c.FAILED, c.RUNNING):
        if (conds.get(kind) or {}).get("status") == c.TRUE:
            return kind
    return c.STATE_PENDING


def terminal(obj: dict) -> bool:
    conds = conditions_by_type(obj.get("status") or {})
    return any((conds.get(k) or {}).get("status") == c.TRUE for k in (c.SUCCEEDED, c.FAILED))


def progress_text(status: dict) -> str:
    mb = status.get("miniBatches") or {}
    if not mb:
        return status.get("progress") or "-"
    items = status.get("items") or {}
    return (f"{mb.get('done', 0)}/{mb.get('total', '?')} mini-batches done, {mb.get('failed', 0)} failed; "
            f"items {items.get('succeeded', 0)} succeeded, {items.get('failed', 0)} failed")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n" for r in rows)


def format_status(obj: dict, children: dict[str, dict], events: list[dict]) -> str:
    """What ``pjob status`` prints (pure)."""
    meta, status = obj["metadata"], obj.get("status") or {}
    lines = [f"{obj['kind']} {meta.get('namespace')}/{meta['name']}",
             f"State:     {state_of(obj)}", f"Progress:  {progress_text(status)}"]
    for key, label in (("startTime", "Started:   "), ("completionTime", "Completed: "), ("logs", "Logs:      ")):
        if status.get(key):
            lines.append(f"{label}{status[key]}")
    text = "\n".join(lines) + "\n"
    if status.get("outputs"):
        text += "Outputs:\n" + "".join(f"  {k}: {v}\n" for k, v in sorted(status["outputs"].items()))
    if status.get("conditions"):
        rows = [["TYPE", "STATUS", "REASON", "MESSAGE"]] + [
            [x.get("type", ""), x.get("status", ""), x.get("reason", ""), (x.get("message") or "").replace("\n", " ")[:200]]
            for x in status["conditions"]]
        text += "Conditions:\n" + _table(rows)
    if status.get("steps"):
        rows = [["STEP", "KIND", "STATE", "CHILD", "PROGRESS", "MESSAGE"]]
        for step, entry in status["steps"].items():
            child = children.get(step) or {}
            rows.append([step, entry.get("kind", ""), entry.get("state", ""), entry.get("child", ""),
                         progress_text(child.get("status") or {}) if child else "-", (entry.get("message") or "")[:120]])
        text += "Steps:\n" + _table(rows)
    if events:
        rows = [["LAST SEEN", "TYPE", "REASON", "MESSAGE"]] + [
            [event_time(e), e.get("type", ""), e.get("reason", ""), (e.get("message") or "").replace("\n", " ")[:160]]
            for e in events]
        text += "Events:\n" + _table(rows)
    return text


def event_time(e: dict) -> str:
    return e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or ""



def logs_dirs(obj: dict, step: str | None) -> list[tuple[str, str]]:
    """[(step, logs folder)], a folder as the pods see it or relative to the datastore root."""
    meta, status, spec = obj["metadata"], obj.get("status") or {}, obj.get("spec") or {}
    ann = meta.get("annotations") or {}
    run = ann.get(c.ANNOTATION_RUN_DIR) or f"runs/{meta['namespace']}/{meta['name']}"
    if obj["kind"] == c.PARALLEL_KIND:
        own = ann.get(c.ANNOTATION_STEP) or spec.get("name") or meta["name"]
        if step not in (None, own):
            raise errors.UserError([errors.Problem("--step", None, "", f"{meta['name']} is a ParallelJob of step {own!r}")])
        return [(own, status.get("logs") or f"{run}/steps/{own}/logs")]
    steps = list((status.get("steps") or {}) or (spec.get("jobs") or {}))
    if step is not None and step not in steps:
        raise errors.UserError([errors.Problem("--step", None, "", f"no step {step!r} in {meta['name']}; steps: {', '.join(steps)}")])
    return [(s, f"{run}/steps/{s}/logs") for s in ([step] if step else steps)]


def local_path(path: str, namespace: str, root: str | None) -> str | None:
    """Where a datastore path (pods' absolute, or relative) is on this machine, if it is."""
    if os.path.isabs(path) and os.path.exists(path) and not root:
        return path
    match = re.search(rf"(^|/)(runs/{re.escape(namespace)}/.*)$", path)
    rel = match.group(2) if match else (None if os.path.isabs(path) else path)
    if root and rel is not None:
        return os.path.join(root, *rel.split("/"))
    return path if os.path.isabs(path) and os.path.exists(path) else None


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
    from pjob.engine import logtree

    tree = logtree.LogTree(logs)
    reports = [tree.job_report] if os.path.isfile(tree.job_report) else sorted(
        glob.glob(os.path.join(os.path.dirname(logs.rstrip("/")), "work", "report", "*.csv")))
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
            out.append(f"attempt {row['picked_count']}: {row['status']} {row['succeeded_items']}/{row['total_items']} "
                       f"items, started {row['start_time']}" + (f" - {row['error']}" if row.get("error") else ""))
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
