"""Build the engine's ``ParallelTask`` from a checked ``ParallelStep`` and its
resolved bindings. Pure; shared by the local driver and the operator so a step
means the same thing in both places."""

from __future__ import annotations

import os

from pjob.engine import cgroup
from pjob.engine.task import ParallelTask
from pjob.spec import bindings, flags, models, resolve

APPEND_ROW_FILE = "parallel_run_step.txt"  # Azure's file name inside a folder output


def default_concurrency() -> int:
    """Workers when max_concurrency_per_instance is not set: the CPUs this
    process may use (its cgroup's quota and memory limit, not the machine's cores)."""
    return cgroup.default_concurrency()


def build_parallel_task(
    job: str, step: models.ParallelStep, resolved: resolve.ResolvedStep, *, step_dir: str, gpus: int = 0
) -> ParallelTask:
    """``step_dir`` holds ``logs/`` and ``work/`` of this step."""
    data_ref = bindings.whole_ref(step.input_data)
    assert data_ref is not None  # checks: input_data is one ${{inputs.<name>}}
    data = resolved.inputs[data_ref.name]
    if not isinstance(data, resolve.DataValue):
        raise ValueError(f"input_data of step {resolved.name} is not data: {data!r}")
    runtime = flags.parse_flags(resolved.argv)
    append_row_to = None
    if step.task.append_row_to:
        out_ref = bindings.whole_ref(step.task.append_row_to)
        assert out_ref is not None  # checks: append_row_to is one ${{outputs.<name>}}
        out = resolved.outputs[out_ref.name]
        append_row_to = out.location if out.type == "uri_file" else os.path.join(out.location, APPEND_ROW_FILE)
        output_dir = os.path.dirname(append_row_to)
    else:
        first = next(iter(resolved.outputs.values()), None)
        output_dir = (
            (os.path.dirname(first.location) if first.type == "uri_file" else first.location)
            if first
            else os.path.join(step_dir, "outputs")
        )
    assert resolved.code_dir is not None  # a parallel step has task.code
    error_threshold = runtime.error_threshold if runtime.error_threshold is not None else step.error_threshold
    return ParallelTask(
        step=resolved.name,
        job=job,
        code_dir=resolved.code_dir,
        entry_script=step.task.entry_script,
        argv=list(resolved.argv),
        env=dict(resolved.env),
        input_type=data.type,
        input_uri=data.location,
        mini_batch_size=step.mini_batch_size,
        partition_keys=list(step.partition_keys) if step.partition_keys else None,
        output_dir=output_dir,
        append_row_to=append_row_to,
        logs_dir=os.path.join(step_dir, "logs"),
        work_dir=os.path.join(step_dir, "work"),
        instance_count=step.resources.instance_count if step.resources else 1,
        max_concurrency_per_instance=step.max_concurrency_per_instance or default_concurrency(),
        mini_batch_error_threshold=step.mini_batch_error_threshold,
        error_threshold=error_threshold,
        max_retries=step.retry_settings.max_retries,
        timeout=float(step.retry_settings.timeout),
        logging_level=step.logging_level,
        flags=runtime,
        gpus=gpus,
        parent_logs_dir=os.path.join(os.path.dirname(os.path.dirname(step_dir)), "logs", resolved.name),
    )
