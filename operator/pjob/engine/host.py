"""Entry-script host (docs/writing-jobs.md, "The entry script"): the process set-up an entry
script sees (argv, environment, cwd, sys.path, ``EntryScript``), loading the
script, and calling ``init`` / ``run`` / ``shutdown``.

Used by ``pjob.engine.worker`` (one worker process per host) and by
``pjob.local.parallel_step.replay`` (one mini-batch in the foreground).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import types
from typing import TYPE_CHECKING, Any

from azureml_user import parallel_run

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas

    from pjob.data.minibatch import MiniBatch
    from pjob.engine.logtree import LogTree
    from pjob.engine.task import ParallelTask

    MiniBatchData = list[str] | pandas.DataFrame  # what run() is given: file paths, or rows


class EntryScriptError(Exception):
    """The entry script cannot be used (missing file, no run function)."""


class MiniBatchContext:
    """Second argument of ``run(mini_batch, mini_batch_context)``."""

    def __init__(self, minibatch_index: int, partition_key_value: dict[str, Any], dataset: str):
        self.minibatch_index = minibatch_index
        self.partition_key_value = partition_key_value
        self.dataset = dataset

    def __repr__(self) -> str:
        return (
            f"MiniBatchContext(minibatch_index={self.minibatch_index}, "
            f"partition_key_value={self.partition_key_value!r}, dataset={self.dataset!r})"
        )


def script_path(task: ParallelTask) -> str | None:
    """Absolute file of the entry script, or None for a dotted module name."""
    entry = task.entry_script
    if entry.endswith(".py") or "/" in entry or os.sep in entry:
        return os.path.normpath(os.path.join(task.code_dir, entry))
    return None


def script_argv(task: ParallelTask) -> list[str]:
    """sys.argv of the script: the script, then every program argument
    (runtime flags included, so parse_known_args sees them)."""
    return [script_path(task) or task.entry_script] + list(task.argv)


def worker_environment(task: ParallelTask, base_env: dict[str, str], slot: int) -> dict[str, str]:
    """Environment of worker ``slot``: the caller's, the step's
    environment_variables, AZUREML_BI_OUTPUT_PATH, and one GPU per worker
    while GPUs last."""
    env = dict(base_env)
    env.update({k: str(v) for k, v in (task.env or {}).items()})
    env["AZUREML_BI_OUTPUT_PATH"] = task.output_dir
    if slot < task.gpus:
        env["CUDA_VISIBLE_DEVICES"] = str(slot)
    return env


def configure_entry_script(task: ParallelTask, logs: LogTree, node: str, proc: str, working_dir: str) -> None:
    """Point ``EntryScript`` at this worker's log file and folders."""
    parallel_run.configure(
        log_dir=logs.root,
        log_file=logs.entry_script_log(node, proc),
        agent_name=proc,
        node=node,
        output_dir=task.output_dir,
        working_dir=working_dir,
        logging_level=task.logging_level,
    )


class EntryScriptHost:
    """One loaded entry script."""

    def __init__(self, task: ParallelTask):
        self.task = task
        self.module: types.ModuleType | None = None
        self._run: Callable[..., Any] | None = None
        self._wants_context = False

    def load(self) -> None:
        path = script_path(self.task)
        if path is None:
            sys.path.insert(0, self.task.code_dir)
            self.module = importlib.import_module(self.task.entry_script)
        else:
            if not os.path.isfile(path):
                raise EntryScriptError(f"entry script {path} does not exist (task.code + task.entry_script)")
            folder = os.path.dirname(path)
            for extra in (self.task.code_dir, folder):
                if extra not in sys.path:
                    sys.path.insert(0, extra)
            name = os.path.splitext(os.path.basename(path))[0]
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise EntryScriptError(f"entry script {path} cannot be loaded as a module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self.module = module
        run = getattr(self.module, "run", None)
        if not callable(run):
            raise EntryScriptError(f"entry script {path or self.task.entry_script} has no run(mini_batch) function")
        self._run = run
        self._wants_context = wants_context(run)

    def init(self) -> None:
        init = getattr(self.module, "init", None)
        if callable(init):
            init()

    def run(self, mini_batch: MiniBatchData, context: MiniBatchContext) -> Any:
        """What the script's run() returned (checked by ``results.format_returns``)."""
        run = self._run
        assert run is not None  # load() first
        if self._wants_context:
            return run(mini_batch, context)
        return run(mini_batch)

    def run_counted(self, mini_batch: MiniBatchData, context: MiniBatchContext) -> tuple[int, object]:
        """(items handed over, what run() returned). The size is taken before
        the call: a script that pops, deletes or drops (in place) from the
        list or DataFrame it was given must not shrink the count its returns
        are checked against, or the missing rows would pass as succeeded."""
        items = len(mini_batch)
        return items, self.run(mini_batch, context)

    def shutdown(self) -> None:
        shutdown = getattr(self.module, "shutdown", None)
        if callable(shutdown):
            shutdown()


def wants_context(run: Callable[..., Any]) -> bool:
    """True when run() declares two (or more) positional parameters, or *args."""
    try:
        params = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def context_for(mb: MiniBatch, task: ParallelTask) -> MiniBatchContext:
    return MiniBatchContext(mb.index, dict(mb.key_values or {}), task.input_uri)
