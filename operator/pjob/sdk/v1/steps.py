"""Azure ML SDK v1 pipelines (``azureml.pipeline.core``, ``azureml.pipeline.steps``,
``azureml.data``): ``ParallelRunConfig``, ``ParallelRunStep``,
``PythonScriptStep``, ``PipelineData``/``OutputFileDatasetConfig``,
``Pipeline`` and ``Experiment.submit``, mapped onto the same pipeline spec a
v2 YAML loads into (``pipeline_spec``, pure; the mapping table is in
docs/sdk.md), then run by the same driver as ``pjob run`` or submitted like
``pjob submit``. Called by user scripts.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
from typing import Any

from pjob.sdk import client
from pjob.sdk.v1 import core
from pjob.spec import checks, load


class PipelineData:
    """A step output folder (``OutputFileDatasetConfig`` is the same here)."""

    def __init__(
        self,
        name: str | None = None,
        datastore: core.Datastore | None = None,
        output_name: str | None = None,
        destination: Any = None,
        is_directory: bool | None = None,
        **kwargs: Any,
    ):
        self.name = output_name or name or "output"
        self.datastore = datastore
        self.destination = destination  # (datastore, "path") or None: the default location

    def as_mount(self, *args: Any, **kwargs: Any) -> PipelineData:
        return self

    def as_upload(self, *args: Any, **kwargs: Any) -> PipelineData:
        return self

    def as_input(self, name: str | None = None) -> PipelineData:
        return self


OutputFileDatasetConfig = PipelineData


class ParallelRunConfig:
    def __init__(
        self,
        environment: core.Environment | None = None,
        entry_script: str | None = None,
        error_threshold: int = -1,
        output_action: str = "append_row",
        compute_target: Any = None,
        node_count: int = 1,
        process_count_per_node: int | None = None,
        mini_batch_size: Any = None,
        source_directory: str | None = None,
        description: str | None = None,
        logging_level: str = "INFO",
        run_invocation_timeout: int = 60,
        run_max_try: int = 3,
        append_row_file_name: str | None = None,
        allowed_failed_count: int | None = None,
        allowed_failed_percent: float | None = None,
        partition_keys: list[str] | None = None,
        environment_variables: dict[str, str] | None = None,
    ):
        if not entry_script:
            raise ValueError("ParallelRunConfig: entry_script is required")
        if output_action not in ("append_row", "summary_only"):
            raise ValueError(
                f"ParallelRunConfig: output_action must be 'append_row' or 'summary_only', got {output_action!r}"
            )
        if run_max_try < 1:
            raise ValueError(f"ParallelRunConfig: run_max_try must be at least 1, got {run_max_try}")
        self.environment, self.entry_script, self.error_threshold = environment, entry_script, error_threshold
        self.output_action, self.compute_target, self.node_count = output_action, compute_target, node_count
        self.process_count_per_node, self.mini_batch_size = process_count_per_node, mini_batch_size
        self.source_directory = os.path.abspath(source_directory or ".")
        self.description, self.logging_level = description, logging_level
        self.run_invocation_timeout, self.run_max_try = run_invocation_timeout, run_max_try
        self.append_row_file_name, self.allowed_failed_count = append_row_file_name, allowed_failed_count
        self.allowed_failed_percent, self.partition_keys = allowed_failed_percent, partition_keys
        self.environment_variables = dict(environment_variables or {})


class ParallelRunStep:
    def __init__(
        self,
        name: str,
        parallel_run_config: ParallelRunConfig,
        inputs: list[Any],
        output: PipelineData | None = None,
        side_inputs: list[Any] | None = None,
        arguments: list[Any] | None = None,
        allow_reuse: bool = True,
    ):
        if not inputs or len(inputs) != 1:
            raise ValueError(
                f"ParallelRunStep {name!r}: pjob splits one input; pass exactly one in inputs=[...] and "
                "any others as side_inputs"
            )
        self.name, self.config, self.inputs, self.output = name, parallel_run_config, list(inputs), output
        self.side_inputs, self.arguments = list(side_inputs or []), list(arguments or [])


class PythonScriptStep:
    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: list[Any] | None = None,
        compute_target: Any = None,
        runconfig: Any = None,
        inputs: list[Any] | None = None,
        outputs: list[PipelineData] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        **kwargs: Any,
    ):
        self.name = name or script_name
        self.script_name, self.arguments = script_name, list(arguments or [])
        self.inputs, self.outputs = list(inputs or []), list(outputs or [])
        self.source_directory = os.path.abspath(source_directory or ".")
        self.environment = getattr(runconfig, "environment", None)


class Pipeline:
    def __init__(
        self,
        workspace: core.Workspace,
        steps: list[Any],
        description: str | None = None,
        default_datastore: core.Datastore | None = None,
        default_source_directory: str | None = None,
        **kwargs: Any,
    ):
        self.workspace, self.steps, self.description = workspace, list(steps), description
        self.default_datastore = default_datastore or workspace.get_default_datastore()

    def validate(self) -> list:
        self.to_loaded("pipeline")
        return []

    def to_loaded(self, experiment: str, tags: dict | None = None) -> load.LoadedJob:
        """The checked pjob job (raises UserError like ``pjob validate``)."""
        data, files = pipeline_spec(self, experiment, tags)
        for path, text in files.items():  # MLTable files of tabular datasets, conda files of environments
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        loaded = load.load_data(data, os.path.join(os.getcwd(), f"<v1 pipeline {experiment}>"), {})
        loaded.raise_if_problems()
        checks.check(loaded)
        loaded.raise_if_problems()
        return loaded


class Experiment:
    def __init__(self, workspace: core.Workspace, name: str, **kwargs: Any):
        self.workspace, self.name = workspace, name

    def submit(
        self,
        config: Pipeline,
        tags: dict | None = None,
        pipeline_parameters: dict | None = None,
        continue_on_step_failure: bool | None = None,
        regenerate_outputs: bool = False,
        **kwargs: Any,
    ) -> PipelineRun:
        """Locally: run to the end (progress on stderr), then return the run. On a cluster: submit."""
        loaded = config.to_loaded(self.name, tags)
        target = self.workspace.target
        if not target.local:
            created = client.submit(
                loaded, namespace=target.namespace or "default", kubeconfig=target.kubeconfig, context=target.context
            )
            return PipelineRun(self, config, created.name, None)
        result = client.run_local(loaded, runs_dir=target.runs_dir, fresh=regenerate_outputs, show_progress=True)
        return PipelineRun(self, config, result.name, result)


class PortData:
    """``step_run.get_output_data(name)``: a step output; ``download(local_path)`` copies it."""

    def __init__(self, name: str, location: str):
        self.name, self.path_on_datastore = name, location

    def download(self, local_path: str, overwrite: bool = False, show_progress: bool = True) -> str:
        dest = os.path.join(local_path, self.name)
        if os.path.isdir(self.path_on_datastore):
            shutil.copytree(self.path_on_datastore, dest, dirs_exist_ok=True)
        else:
            os.makedirs(dest, exist_ok=True)
            shutil.copy2(self.path_on_datastore, dest)
        return dest


class StepRun:
    def __init__(self, name: str, report: Any):
        self.name, self._report = name, report

    def get_status(self) -> str:
        return getattr(self._report, "status", "Running")

    def get_output_data(self, name: str) -> PortData:
        outputs = getattr(self._report, "outputs", {}) or {}
        if name not in outputs:
            raise KeyError(f"step {self.name!r} has no output {name!r} (it has {', '.join(outputs) or 'none'})")
        return PortData(name, outputs[name])


class PipelineRun:
    def __init__(self, experiment: Experiment, pipeline: Pipeline, name: str, result: Any):
        self.experiment, self.pipeline, self.id, self._result = experiment, pipeline, name, result

    def get_status(self) -> str:
        return self._result.status if self._result is not None else "Running"

    def wait_for_completion(
        self, show_output: bool = True, timeout_seconds: int | None = None, raise_on_error: bool = True
    ) -> str:
        if self._result is None:  # on a cluster: follow it like `pjob logs --follow`
            from pjob.sdk import mlclient

            ml_client = mlclient.MLClient()
            ml_client.target = self.experiment.workspace.target
            ml_client.jobs.stream(self.id)
            return "Finished"
        if show_output:
            print(
                f"PipelineRunId: {self.id}\nRun folder: {self._result.run_dir}\n{self._result.job_result}\n"
                f"PipelineRun Status: {self._result.status}",
                flush=True,
            )
        if self._result.status != "Succeeded" and raise_on_error:
            raise RuntimeError(f"pipeline run {self.id} {self._result.status.lower()}: see {self._result.run_dir}")
        return "Finished" if self._result.status == "Succeeded" else self._result.status

    def find_step_run(self, name: str) -> list[StepRun]:
        steps = self._result.steps if self._result is not None else {}
        key = step_key(name)
        return [StepRun(name, steps[key])] if key in steps else []

    def get_portal_url(self) -> str:
        return self._result.run_dir if self._result is not None else self.id


# --- the mapping (pure) ----------------------------------------------------------------------------------


def step_key(name: str) -> str:
    """A v1 step name as a pipeline step key (letters, digits, underscores)."""
    key = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return key if re.match(r"[A-Za-z_]", key) else f"step_{key}"


def pipeline_spec(pipeline: Pipeline, experiment: str, tags: dict | None = None) -> tuple[dict, dict[str, str]]:
    """``(pipeline job dict, {file path: text})`` for a v1 pipeline: the dict is
    what a v2 pipeline YAML holds; the files (written by the caller, under the
    runs dir) are the MLTable files of its tabular datasets and the conda files
    of environments built from CondaDependencies."""
    producers = {
        id(out): (step_key(step.name), out.name)
        for step in pipeline.steps
        for out in ([step.output] if isinstance(step, ParallelRunStep) else step.outputs)
        if out is not None
    }
    files: dict[str, str] = {}
    runs_dir = os.path.abspath(pipeline.workspace.target.runs_dir)
    jobs = {}
    for step in pipeline.steps:
        spec = _Step(step_key(step.name), producers, files, runs_dir)
        jobs[step_key(step.name)] = spec.parallel(step) if isinstance(step, ParallelRunStep) else spec.command(step)
    data = {
        "type": "pipeline",
        "display_name": experiment,
        "experiment_name": experiment,
        "jobs": jobs,
        "settings": {"default_datastore": pipeline.default_datastore.name},
    }
    if pipeline.description:
        data["description"] = pipeline.description
    if tags:
        data["tags"] = {str(k): str(v) for k, v in tags.items()}
    return data, files


class _Step:
    def __init__(self, key: str, producers: dict, files: dict[str, str], runs_dir: str):
        self.key, self.producers, self.files, self.runs_dir = key, producers, files, runs_dir
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}

    def _input(self, value: Any) -> str:
        """Declare ``value`` as an input of this step; returns its ``${{inputs.x}}``."""
        if isinstance(value, PipelineData):
            producer = self.producers.get(id(value))
            if producer is None:
                raise ValueError(f"PipelineData {value.name!r} is read by a step but no step of the pipeline writes it")
            self.inputs[value.name] = f"${{{{parent.jobs.{producer[0]}.outputs.{producer[1]}}}}}"
            return f"${{{{inputs.{value.name}}}}}"
        named = value if isinstance(value, core.NamedInput) else core.NamedInput(getattr(value, "name", "data"), value)
        dataset = named.dataset
        if isinstance(dataset, core.TabularDataset):
            text = dataset.mltable_text()
            folder = os.path.join(self.runs_dir, "v1-datasets", hashlib.sha256(text.encode()).hexdigest()[:12])
            self.files[os.path.join(folder, "MLTable")] = text
            self.inputs[named.name] = {"type": "mltable", "path": folder, "mode": "direct"}
        else:
            is_file = os.path.isfile(dataset.location)
            self.inputs[named.name] = {
                "type": "uri_file" if is_file else "uri_folder",
                "path": dataset.location,
                "mode": named.mode,
            }
        return f"${{{{inputs.{named.name}}}}}"

    def _output(self, out: PipelineData, file_name: str | None = None) -> str:
        spec: dict[str, Any] = {"type": "uri_folder"}
        if out.destination is not None:
            spec["path"] = core.data_path(out.destination)
        if file_name:  # append_row_file_name: that file inside the output's folder
            base = (
                spec.get("path")
                or f"azureml://datastores/${{{{default_datastore}}}}/paths/azureml/${{{{name}}}}/{out.name}"
            )
            spec = {"type": "uri_file", "path": f"{base.rstrip('/')}/{file_name}"}
        self.outputs[out.name] = spec
        return f"${{{{outputs.{out.name}}}}}"

    def _arguments(self, values: list[Any]) -> str:
        words = []
        for value in values:
            if isinstance(value, PipelineData):
                mine = self.producers.get(id(value), (self.key,))[0] == self.key  # this step writes it
                words.append(
                    (f"${{{{outputs.{value.name}}}}}" if value.name in self.outputs else self._output(value))
                    if mine
                    else self._input(value)
                )
            elif isinstance(value, (core.NamedInput, core.FileDataset)):
                words.append(self._input(value))
            else:
                words.append(shlex.quote(str(value)))
        return " ".join(words)

    def parallel(self, step: ParallelRunStep) -> dict[str, Any]:
        cfg = step.config
        split = self._input(step.inputs[0])
        for side in step.side_inputs:
            self._input(side)
        append = None
        if step.output is not None:
            file_name = cfg.append_row_file_name if cfg.output_action == "append_row" else None
            out = self._output(step.output, file_name)
            append = out if cfg.output_action == "append_row" else None
        words = [self._arguments(step.arguments)] if step.arguments else []
        if cfg.allowed_failed_percent is not None:
            words.append(f"--allowed_failed_percent {cfg.allowed_failed_percent:g}")
        task: dict[str, Any] = {"type": "run_function", "code": cfg.source_directory, "entry_script": cfg.entry_script}
        env = environment(cfg.environment, self.runs_dir, self.files)
        if env is not None:
            task["environment"] = env
        if words:
            task["program_arguments"] = " ".join(words)
        if append:
            task["append_row_to"] = append
        job: dict[str, Any] = {
            "type": "parallel",
            "display_name": step.name,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "input_data": split,
            "error_threshold": cfg.error_threshold,
            "logging_level": cfg.logging_level,
            "resources": {"instance_count": cfg.node_count},
            # run_max_try counts every call; max_retries counts the calls after the first
            "retry_settings": {"max_retries": cfg.run_max_try - 1, "timeout": cfg.run_invocation_timeout},
            "task": task,
        }
        optional = {
            "mini_batch_size": None if cfg.mini_batch_size is None else str(cfg.mini_batch_size),
            "max_concurrency_per_instance": cfg.process_count_per_node,
            "mini_batch_error_threshold": cfg.allowed_failed_count,
            "partition_keys": cfg.partition_keys,
            "description": cfg.description,
            "environment_variables": cfg.environment_variables or None,
        }
        job.update({k: v for k, v in optional.items() if v is not None})
        return job

    def command(self, step: PythonScriptStep) -> dict[str, Any]:
        for value in step.inputs:
            self._input(value)
        for out in step.outputs:
            self._output(out)
        args = self._arguments(step.arguments)
        job: dict[str, Any] = {
            "type": "command",
            "display_name": step.name,
            "code": step.source_directory,
            "command": f"python {shlex.quote(step.script_name)}" + (f" {args}" if args else ""),
            "inputs": self.inputs,
            "outputs": self.outputs,
        }
        env = environment(step.environment, self.runs_dir, self.files)
        if env is not None:
            job["environment"] = env
        return job


def environment(env: core.Environment | None, runs_dir: str, files: dict[str, str]) -> Any:
    """A v1 Environment as a v2 ``environment``: image + conda file (one made from
    CondaDependencies goes into ``files``), or its registered name."""
    if env is None:
        return None
    conda_file = env.conda_file
    if conda_file is None and env.python.conda_dependencies is not None:
        text = env.python.conda_dependencies.yaml_text(env.name)
        conda_file = os.path.join(
            runs_dir, "v1-environments", hashlib.sha256(text.encode()).hexdigest()[:12], "conda.yml"
        )
        files[conda_file] = text
    if conda_file is None and not env.docker.base_image:
        return f"azureml:{env.name}@latest"
    out: dict[str, Any] = {"image": env.docker.base_image or core.Environment.DEFAULT_CPU_IMAGE}
    if conda_file:
        out["conda_file"] = conda_file
    return out
