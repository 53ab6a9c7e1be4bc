"""A resolved task over a folder of small files, for tests that run agents
without planning a job from YAML: ``files`` in ``folder/docs`` (one per
mini-batch), the step folder ``folder/run/steps/s``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pjob.engine.task import ParallelTask


def folder_task(folder: Path, files: dict[str, str], *, job: str = "run", **fields: Any) -> ParallelTask:
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (docs / name).write_text(text)
    run = folder / "run" / "steps" / "s"
    base: dict[str, Any] = dict(
        step="s",
        job=job,
        code_dir=str(folder),
        entry_script="x.py",
        argv=[],
        env={},
        input_type="uri_folder",
        input_uri=str(docs),
        mini_batch_size="1",
        partition_keys=None,
        output_dir=str(run / "outputs" / "o"),
        append_row_to=None,
        logs_dir=str(run / "logs"),
        work_dir=str(run / "work"),
    )
    return ParallelTask(**{**base, **fields})
