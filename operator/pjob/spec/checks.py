"""Semantic checks of a loaded job: bindings name real inputs, outputs and
steps; code folders, entry scripts and local input paths exist; runtime flags
are valid; the step DAG has no cycle. Also derives the DAG and the run order.

Called by ``pjob validate``, ``pjob run``, the SDK and the operator (which
passes ``check_files=False`` when paths only exist inside pods). Path rules
and the output-target checks live in ``pjob.spec.localpaths``, the step DAG in
``pjob.spec.step_order``; their public names are re-exported here.
"""

from __future__ import annotations

import ast
import os

from pjob.spec import bindings, errors, flags, load, models, names
from pjob.spec.localpaths import URL as URL
from pjob.spec.localpaths import check_local_path as _check_local_path
from pjob.spec.localpaths import check_output_path as _check_output_path
from pjob.spec.localpaths import check_output_targets as _check_output_targets
from pjob.spec.localpaths import is_local_path as is_local_path
from pjob.spec.localpaths import is_object_store as is_object_store
from pjob.spec.localpaths import local_path as local_path
from pjob.spec.step_order import dependencies as dependencies
from pjob.spec.step_order import run_order as run_order
from pjob.spec.step_order import step_io as step_io


def _whole_ref(text) -> bindings.Ref | None:
    """Like bindings.whole_ref, but a malformed expression is None here (it is
    reported once, by _check_text, where it is written)."""
    try:
        return bindings.whole_ref(text)
    except bindings.BindingError:
        return None


def _check_ref(
    loaded: load.LoadedJob, where: tuple, ref: bindings.Ref, step: str | None, inputs: dict, outputs: dict, **at
) -> None:
    job = loaded.job
    assert job is not None  # a job that loaded
    problem = lambda w, m: loaded.problem(w, m, **at)  # noqa: E731  (at: file/lines of a component)
    if ref.scope == "inputs" and ref.name not in inputs:
        problem(
            where,
            f"{ref.text} names no input of this step; declare inputs.{ref.name} or use one of: {', '.join(inputs) or '(none)'}",
        )
    elif ref.scope == "outputs" and ref.name not in outputs:
        problem(
            where,
            f"{ref.text} names no output of this step; declare outputs.{ref.name} or use one of: {', '.join(outputs) or '(none)'}",
        )
    elif ref.scope == "parent.inputs" and ref.name not in job.inputs:
        problem(
            where,
            f"{ref.text} names no pipeline input; add it under the pipeline's inputs or use one of: {', '.join(job.inputs) or '(none)'}",
        )
    elif ref.scope == "parent.outputs" and ref.name not in job.outputs:
        problem(
            where,
            f"{ref.text} names no pipeline output; add it under the pipeline's outputs or use one of: {', '.join(job.outputs) or '(none)'}",
        )
    elif ref.scope == "parent.jobs":
        if ref.step not in job.jobs:
            problem(where, f"{ref.text}: there is no step {ref.step!r}; use one of: {', '.join(job.jobs)}")
        elif ref.step == step:
            problem(where, f"{ref.text}: a step cannot read its own output")
        elif ref.name not in step_io(loaded, ref.step)[1]:
            problem(
                where,
                f"{ref.text}: step {ref.step!r} has no output {ref.name!r}; use one of: {', '.join(step_io(loaded, ref.step)[1]) or '(none)'}",
            )


def _check_text(loaded, where, text, step, inputs, outputs, allowed: tuple[str, ...], **at) -> None:
    if bindings.unclosed_optional(text):
        loaded.problem(where, "unclosed $[[ ; close the optional part with ]]", **at)
    try:
        found = bindings.refs(text)
    except bindings.BindingError as exc:
        loaded.problem(where, str(exc), **at)
        return
    for ref in found:
        if ref.scope in ("name", "default_datastore"):
            continue
        if ref.scope not in allowed:
            loaded.problem(
                where,
                f"{ref.text} cannot be used here; use one of: "
                + ", ".join(bindings.expression(f"{a}...") for a in allowed),
                **at,
            )
            continue
        _check_ref(loaded, where, ref, step, inputs, outputs, **at)


def _check_pipeline_output_writers(loaded) -> None:
    writers: dict[str, str] = {}
    for name, step in loaded.job.jobs.items():
        for key, value in step.outputs.items():
            ref = _whole_ref(value.path if isinstance(value, models.DataOutput) else value)
            if ref and ref.scope == "parent.outputs":
                if ref.name in writers:
                    loaded.problem(
                        ("jobs", name, "outputs", key),
                        f"{ref.text} is already bound by {writers[ref.name]}; a pipeline output comes from one step",
                    )
                writers.setdefault(ref.name, f"jobs.{name}.outputs.{key}")


def _check_parallel(loaded, name: str, step: models.ParallelStep, check_files: bool) -> None:
    base = ("jobs", name)
    inputs, outputs = step.inputs, step.outputs
    ref = _whole_ref(step.input_data)
    if not ref or ref.scope != "inputs":
        loaded.problem(
            base + ("input_data",),
            f"must be ${{{{inputs.<name>}}}} naming one of this step's inputs, got {step.input_data!r}",
        )
    elif ref.name not in inputs:
        loaded.problem(
            base + ("input_data",),
            f"{ref.text} names no input of this step; declare inputs.{ref.name} or use one of: {', '.join(inputs) or '(none)'}",
        )
    elif not isinstance(_split_source(loaded, inputs[ref.name]), models.DataInput) and not _bound_to_step(
        inputs[ref.name]
    ):
        loaded.problem(
            base + ("inputs", ref.name),
            f"the input split into mini-batches must be data, not the literal {_split_source(loaded, inputs[ref.name])!r}: "
            "give it (or the pipeline input it binds) type (uri_folder, uri_file, mltable) and path",
        )
    elif isinstance(data := inputs[ref.name], models.DataInput) and data.path is None and data.value is None:
        loaded.problem(base + ("inputs", ref.name), "the input split into mini-batches has no path; give path")
    split_input = _split_source(loaded, inputs.get(ref.name)) if ref and ref.scope == "inputs" else None
    if (
        step.partition_keys
        and isinstance(split_input, models.DataInput)
        and split_input.type in ("uri_folder", "uri_file")
    ):
        loaded.problem(
            base + ("partition_keys",),
            f"partition_keys needs a tabular input (type: mltable); input_data is {split_input.type}",
        )
    if step.partition_keys and step.mini_batch_size:
        loaded.warnings.append(
            f"{loaded.file}: jobs.{name}.mini_batch_size is ignored: partition_keys makes one mini-batch per key combination"
        )
    task = step.task
    if task.append_row_to is not None:
        out = _whole_ref(task.append_row_to)
        if not out or out.scope != "outputs":
            loaded.problem(
                base + ("task", "append_row_to"), f"must be ${{{{outputs.<name>}}}}, got {task.append_row_to!r}"
            )
        elif out.name not in outputs:
            loaded.problem(
                base + ("task", "append_row_to"),
                f"{out.text} names no output of this step; declare outputs.{out.name} or use one of: {', '.join(outputs) or '(none)'}",
            )
    for key, value in (task.environment_variables or {}).items():
        _check_text(
            loaded, base + ("task", "environment_variables", key), value, name, inputs, outputs, ("inputs", "outputs")
        )
    where = base + ("task", "program_arguments")
    _check_text(loaded, where, task.program_arguments, name, inputs, outputs, ("inputs", "outputs"))
    try:
        text = bindings.OPTIONAL.sub(lambda m: m.group(1), task.program_arguments or "")
        argv = flags.split_args(_literal_inputs(text, inputs))
        flags.parse_flags(argv, unresolved_ok=True)
        for given, meant in flags.near_misses(argv):
            loaded.warnings.append(
                f"{loaded.file}: jobs.{name}.task.program_arguments: --{given} is passed to your script as-is; did you mean the runtime flag --{meant}?"
            )
    except flags.FlagError as exc:
        loaded.problem(where, f"{exc}", find=f"--{exc.flag}" if exc.flag != "program_arguments" else None)
    if check_files:
        if task.code is None:
            script = loaded.resolve(task.entry_script)
            code = os.path.dirname(script)
        else:
            code = loaded.resolve(task.code)
            script = os.path.normpath(os.path.join(code, task.entry_script))
        if task.code is not None and os.path.isfile(code):
            loaded.problem(
                base + ("task", "code"),
                f"code folder {task.code!r} is not a folder; give the folder that holds the entry script",
            )
        elif task.code is not None and not os.path.isdir(code):
            loaded.problem(
                base + ("task", "code"),
                f"code folder {task.code!r} does not exist (looked at {code}); fix the path (relative to {os.path.basename(loaded.file)})",
            )
        elif not (os.path.isfile(script) or _module_file(code, task.entry_script)):
            loaded.problem(
                base + ("task", "entry_script"),
                f"entry script {task.entry_script!r} not found in {code}; put it in the code folder or fix the name",
            )
        elif os.path.isfile(script) and not os.path.realpath(script).startswith(os.path.realpath(code) + os.sep):
            loaded.problem(base + ("task", "entry_script"), "the entry script must be inside the code folder")
        elif os.path.isfile(script):
            _check_script(loaded, base + ("task", "entry_script"), script)


def _split_source(loaded, value):
    """What a step input finally is: a pipeline input it binds with
    ${{parent.inputs.x}}, else itself."""
    ref = _whole_ref(value.path if isinstance(value, models.DataInput) else value)
    if ref and ref.scope == "parent.inputs" and ref.name in loaded.job.inputs:
        return loaded.job.inputs[ref.name]
    return value


def _bound_to_step(value) -> bool:
    ref = _whole_ref(value.path if isinstance(value, models.DataInput) else value)
    return bool(ref and ref.scope == "parent.jobs")


def _literal_inputs(text: str, inputs: dict) -> str:
    """Substitute literal inputs (``thr: 5``) so their flags can be checked
    now; other bindings stay as written."""

    def value(m):
        try:
            ref = bindings.parse_expr(m.group(1))
        except bindings.BindingError:
            return m.group(0)
        given = inputs.get(ref.name) if ref.scope == "inputs" else None
        if isinstance(given, models.DataInput):
            given = given.value if given.value is not None else given.default
        if given is None or isinstance(given, (dict, list)) or (isinstance(given, str) and "${{" in given):
            return m.group(0)
        return str(given)

    return bindings.EXPR.sub(value, text)


def _check_script(loaded, where: tuple, script: str) -> None:
    """A syntax error is bad input now, not a failed job later; a script that
    defines no run() is suspicious (it may still import one), so a warning."""
    try:
        with open(script, "rb") as fh:
            tree = ast.parse(fh.read(), filename=script)
    except SyntaxError as exc:
        loaded.problems.append(
            errors.Problem(script, exc.lineno, "", f"syntax error in the entry script: {exc.msg}; fix the script")
        )
        loaded.problem(where, "the entry script does not compile (see the error above)")
        return
    except (OSError, ValueError) as exc:
        loaded.problem(where, f"cannot read the entry script: {exc}")
        return
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    if "run" not in names and "*" not in names:
        loaded.warnings.append(f"{script}: defines no top-level run(); pjob calls run(mini_batch) for every mini-batch")


def _module_file(code: str, entry: str) -> bool:
    if entry.endswith(".py") or "/" in entry:
        return False
    return os.path.isfile(os.path.join(code, *entry.split(".")) + ".py")


def _check_command(loaded, name: str, step: models.CommandStep, check_files: bool) -> None:
    base = ("jobs", name)
    inputs, outputs = step_io(loaded, name)
    comp = loaded.components.get(name)
    if step.component is None and not step.command:
        loaded.problem(base + ("command",), "a command step needs command: (or component: ./file.yml)")
    if step.component is not None and step.command:
        loaded.problem(base + ("command",), "give either command or component, not both")
    if comp:
        for key in step.inputs:
            if key not in comp.model.inputs:
                loaded.problem(
                    base + ("inputs", key),
                    f"component {os.path.basename(comp.file)} has no input {key!r}; use one of: {', '.join(comp.model.inputs) or '(none)'}",
                )
        for key, spec in comp.model.inputs.items():
            if key not in step.inputs and spec.default is None and not spec.optional:
                loaded.problem(
                    base + ("inputs",),
                    f"input {key!r} of component {os.path.basename(comp.file)} is required and has no default; bind it here",
                )
        _check_text(
            loaded,
            ("command",),
            comp.model.command,
            name,
            inputs,
            outputs,
            ("inputs", "outputs"),
            file=comp.file,
            lines=comp.lines,
        )
    else:
        _check_text(loaded, base + ("command",), step.command, name, inputs, outputs, ("inputs", "outputs"))
    code = step.code or (comp.model.code if comp else None)
    if check_files and code and is_local_path(code):
        in_component = comp is not None and not step.code
        full = (
            os.path.normpath(os.path.join(os.path.dirname(comp.file), code)) if in_component else loaded.resolve(code)
        )
        if not os.path.isdir(full):
            relative_to = os.path.basename(comp.file if in_component else loaded.file)
            message = (
                f"code folder {code!r} does not exist (looked at {full}); fix the path (relative to {relative_to})"
            )
            if in_component:
                loaded.problem(("code",), message, file=comp.file, lines=comp.lines)
            else:
                loaded.problem(base + ("code",), message)


def check(loaded: load.LoadedJob, *, check_files: bool = True) -> load.LoadedJob:
    """Add every semantic problem to ``loaded.problems``; returns ``loaded``."""
    job = loaded.job
    if job is None:
        return loaded
    if not job.jobs:
        loaded.problem(("jobs",), "a pipeline needs at least one step; add a step under jobs")
    names.check_names(loaded)
    names.check_empty_paths(loaded)
    for key, value in job.inputs.items():
        if isinstance(value, models.DataInput) and value.path and check_files:
            _check_local_path(loaded, ("inputs", key, "path"), value.path, "input path")
    for key, job_out in job.outputs.items():
        if isinstance(job_out, models.DataOutput) and check_files:
            _check_output_path(loaded, ("outputs", key, "path"), job_out)
    for name, step in job.jobs.items():
        inputs, outputs = step_io(loaded, name)
        for key, value in step.inputs.items():
            where = ("jobs", name, "inputs", key) + (("path",) if isinstance(value, models.DataInput) else ())
            text = value.path if isinstance(value, models.DataInput) else value
            _check_text(loaded, where, text, name, inputs, outputs, ("parent.inputs", "parent.jobs"))
            if isinstance(value, models.DataInput) and value.path and check_files and value.type in models.DATA_TYPES:
                _check_local_path(loaded, where, value.path, "input path")
        for key, out in step.outputs.items():
            out_text = out.path if isinstance(out, models.DataOutput) else out
            _check_text(loaded, ("jobs", name, "outputs", key), out_text, name, inputs, outputs, ("parent.outputs",))
            if check_files and isinstance(out, models.DataOutput):
                _check_output_path(loaded, ("jobs", name, "outputs", key, "path"), out)
        for key, value in (step.environment_variables or {}).items():
            _check_text(
                loaded,
                ("jobs", name, "environment_variables", key),
                value,
                name,
                inputs,
                outputs,
                ("inputs", "outputs"),
            )
        if isinstance(step, models.ParallelStep):
            _check_parallel(loaded, name, step, check_files)
        else:
            _check_command(loaded, name, step, check_files)
    _check_pipeline_output_writers(loaded)
    if check_files:
        _check_output_targets(loaded)
    try:
        run_order(loaded)
    except ValueError as exc:
        loaded.problem(("jobs",), str(exc))
    for step in job.jobs.values():
        if step.compute and step.compute.startswith("azureml:") or job.settings.default_compute:
            loaded.warnings.append(
                f"{loaded.file}: compute targets (azureml:...) are ignored by pjob; steps run locally or on the cluster pjob is installed in"
            )
            break
    return loaded


def load_and_check(path: str, *, check_files: bool = True) -> load.LoadedJob:
    """Load, model-validate and check ``path``; raise UserError on problems."""
    loaded = check(load.load_job(path), check_files=check_files)
    loaded.raise_if_problems()
    return loaded
