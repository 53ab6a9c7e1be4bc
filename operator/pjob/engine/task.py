"""ParallelTask: everything the engine needs to run one parallel step, with
every binding already resolved to concrete locations. Built from a validated
``pjob.spec`` ParallelStep by the local driver (``pjob.local``) or the
operator (``pjob.kube``); JSON-serialisable so it can be written beside the
run and handed to agent/worker processes (``pjob agent --task task.json``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pjob.spec.flags import RuntimeFlags


@dataclasses.dataclass
class ParallelTask:
    step: str  # step name (jobs.<step>)
    job: str  # pipeline job name (run folder name)
    code_dir: str  # absolute path of task.code
    entry_script: str  # path relative to code_dir ("score.py", "sub/score.py") or dotted module
    argv: list[str]  # program_arguments after substitution, shlex-split (runtime flags included)
    env: dict[str, str]  # environment_variables after substitution
    input_type: str  # uri_folder | uri_file | mltable
    input_uri: str  # resolved location of input_data (local path or fsspec URL)
    mini_batch_size: str | None  # raw string as in YAML ("10", "10kb"); None = default
    partition_keys: list[str] | None
    output_dir: str  # $AZUREML_BI_OUTPUT_PATH: folder for this step's outputs
    append_row_to: str | None  # file path to write aggregated rows (folder output -> <dir>/parallel_run_step.txt)
    logs_dir: str  # <run>/steps/<step>/logs
    work_dir: str  # <run>/steps/<step>/work : manifest, queue.db, part files, scratch
    instance_count: int = 1
    max_concurrency_per_instance: int = 1
    mini_batch_error_threshold: int = -1
    error_threshold: int = -1  # effective: YAML key, overridden by --error_threshold when given
    max_retries: int = 2
    timeout: float = 60.0
    logging_level: str = "INFO"
    flags: RuntimeFlags = dataclasses.field(default_factory=RuntimeFlags)
    gpus: int = 0  # GPUs on this node (CUDA_VISIBLE_DEVICES = worker i while i < gpus)
    parent_logs_dir: str | None = None  # --copy_logs_to_parent copies logs_dir here: <run>/logs/<step>
    python: str | None = None  # workers' interpreter (pjob run --python STEP=PATH); None: pjob's own
    # on a cluster: max_concurrency_per_instance was not set, so each pod uses its own CPU count
    concurrency_from_node: bool = False
    # on a cluster: the step's environment.conda_file (absolute path, or the inline mapping) for the pod's pip env
    conda_file: str | dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ParallelTask:
        d: dict[str, Any] = json.loads(text)
        d["flags"] = RuntimeFlags(**d.get("flags", {}))
        # written before the typed fields (run folders of older versions): {"extra": {"concurrency_from_node": ...}}
        legacy: dict[str, Any] = d.pop("extra", None) or {}
        d.setdefault("concurrency_from_node", bool(legacy.get("concurrency_from_node", False)))
        d.setdefault("conda_file", legacy.get("conda_file"))
        return cls(**d)
