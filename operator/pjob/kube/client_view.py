"""What ``pjob status`` and ``pjob logs`` show for a cluster job, as pure
functions over a custom resource and the datastore's log files: where its
logs are and where they are on this machine. The status text, a job's state
and one mini-batch's records are ``pjob.engine.jobview``'s, shared with local
runs. Called by ``pjob.kube.client_cmd``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pjob.engine import jobview
from pjob.kube import constants as c
from pjob.spec import errors

# the formatting is shared with local runs (pjob status/logs on a run folder)
conditions_by_type = jobview.conditions_by_type
state_of = jobview.state_of
terminal = jobview.terminal
progress_text = jobview.progress_text
format_status = jobview.format_status
event_time = jobview.event_time
read_text = jobview.read_text
mini_batch_log = jobview.mini_batch_log


def logs_dirs(obj: dict[str, Any], step: str | None) -> list[tuple[str, str]]:
    """[(step, logs folder)], a folder as the pods see it or relative to the datastore root."""
    meta, status, spec = obj["metadata"], obj.get("status") or {}, obj.get("spec") or {}
    ann = meta.get("annotations") or {}
    run = ann.get(c.ANNOTATION_RUN_DIR) or f"runs/{meta['namespace']}/{meta['name']}"
    if obj["kind"] == c.PARALLEL_KIND:
        own = ann.get(c.ANNOTATION_STEP) or spec.get("name") or meta["name"]
        if step not in (None, own):
            raise errors.UserError(
                [errors.Problem("--step", None, "", f"{meta['name']} is a ParallelJob of step {own!r}")]
            )
        return [(own, status.get("logs") or f"{run}/steps/{own}/logs")]
    steps = list((status.get("steps") or {}) or (spec.get("jobs") or {}))
    if step is not None and step not in steps:
        raise errors.UserError(
            [errors.Problem("--step", None, "", f"no step {step!r} in {meta['name']}; steps: {', '.join(steps)}")]
        )
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
