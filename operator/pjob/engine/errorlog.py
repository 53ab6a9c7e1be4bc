"""Every failed attempt's full error, so job_result.txt can show the first
error of a mini-batch (the cause) and not only the last one the coordinator
keeps: one JSON line per failed attempt (index, attempt, time, error) in
``<work_dir>/errors/<start time>-node<node>.jsonl``, one file per agent
process, appended and flushed at each failure (failures are rare, and a
killed agent keeps what it wrote).

Written by ``pjob.engine.agent``; read by ``pjob.engine.finalise``.
"""

from __future__ import annotations

import glob
import json
import os
import time
from typing import Any, TextIO

FOLDER = "errors"


class ErrorLog:
    def __init__(self, work_dir: str, node: str):
        self.path = os.path.join(work_dir, FOLDER, f"{time.time_ns():020d}-node{node}.jsonl")
        self._file: TextIO | None = None

    def record(self, index: int, attempt: int, error: str | None) -> None:
        if not error:
            return
        if self._file is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps({"index": index, "attempt": attempt, "time": time.time(), "error": error}) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read(work_dir: str) -> dict[int, list[dict[str, Any]]]:
    """Failed attempts by mini-batch index, in attempt order (a torn last line is skipped)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for path in sorted(glob.glob(os.path.join(work_dir, FOLDER, "*.jsonl"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                out.setdefault(int(rec["index"]), []).append(rec)
    for attempts in out.values():
        attempts.sort(key=lambda r: (r["attempt"], r["time"]))
    return out
