"""``pjob validate FILE``: check a job YAML (the spec checks, plus the local
MLTable files its inputs point at) and print its steps in run order, with each
step's inputs and outputs and where they come from. Exit 0 when valid, 2 with
one ``FILE:LINE: field: problem; fix`` line per problem."""

from __future__ import annotations

import sys

from pjob.local import inputs_check
from pjob.spec import checks, models


def add_arguments(parser) -> None:
    parser.add_argument("file", help="pipeline (or parallel/command) job YAML")
    parser.add_argument(
        "--no-files", action="store_true", help="skip checks of local paths (paths exist only on the cluster)"
    )


def _source(value) -> str:
    if isinstance(value, models.DataInput):
        if value.path is not None:
            where = value.path
        elif value.value is not None:
            where = repr(value.value)
        elif value.default is not None:
            where = f"(default {value.default!r})"
        else:
            where = "(optional, not set)" if value.optional else "(not set)"
        return f"{value.type} {where}" + (f" ({value.mode})" if value.mode else "")
    if isinstance(value, models.DataOutput):
        return f"{value.type} {value.path or '(default location)'}"
    return "(default location)" if value is None else repr(value) if not isinstance(value, str) else value


def summary(loaded) -> list[str]:
    job = loaded.job
    title = job.display_name or job.name or loaded.file
    lines = [f"{loaded.file}: valid pipeline '{title}' with {len(job.jobs)} step(s), in run order:"]
    for i, name in enumerate(checks.run_order(loaded), 1):
        step = job.jobs[name]
        inputs, outputs = checks.step_io(loaded, name)
        kind = step.type + (f" (component {step.component})" if getattr(step, "component", None) else "")
        lines.append(f"  {i}. {name} [{kind}]")
        if isinstance(step, models.ParallelStep):
            split = (
                f"partition_keys {step.partition_keys}"
                if step.partition_keys
                else f"mini_batch_size {step.mini_batch_size or 'default'}"
            )
            inst = step.resources.instance_count if step.resources else 1
            lines.append(
                f"     splits {step.input_data} by {split}; {inst} instance(s) x {step.max_concurrency_per_instance or 'cores'} worker(s)"
            )
        for key, value in inputs.items():
            lines.append(f"     in  {key} <- {_source(step.inputs.get(key, value))}")
        for key, value in outputs.items():
            lines.append(f"     out {key} -> {_source(step.outputs.get(key, value))}")
    return lines


def main(args) -> int:
    loaded = checks.load_and_check(args.file, check_files=not args.no_files)
    if not args.no_files:
        inputs_check.check_inputs(loaded)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print("\n".join(summary(loaded)))
    return 0
