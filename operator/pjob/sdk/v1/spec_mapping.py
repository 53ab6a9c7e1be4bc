"""The mapping of Azure ML SDK v1 pipelines (``pjob.sdk.v1.steps``) onto the pipeline spec a v2
YAML loads into: ``pipeline_spec`` (pure; the mapping table is in docs/sdk.md), which returns the
spec and the files it refers to (MLTable files of tabular datasets, conda files of environments).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from typing import Any

from pjob.sdk.v1 import core
from pjob.sdk.v1.steps import ParallelRunStep, Pipeline, PipelineData, PythonScriptStep


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
