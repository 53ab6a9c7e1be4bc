"""Azure ML SDK v1 pipelines (``azureml.pipeline.core``, ``azureml.pipeline.steps``,
``azureml.data``): ``ParallelRunConfig``, ``ParallelRunStep``,
``PythonScriptStep``, ``PipelineData``/``OutputFileDatasetConfig``,
``Pipeline`` and ``Experiment.submit``, mapped onto the same pipeline spec a
v2 YAML loads into (``pjob.sdk.v1.spec_mapping.pipeline_spec``, pure; the mapping
table is in docs/sdk.md), then run by the same driver as ``pjob run`` or submitted like
``pjob submit``. Called by user scripts.
"""

from __future__ import annotations

import os
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
        from pjob.sdk.v1.spec_mapping import pipeline_spec

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
        from pjob.sdk.v1.spec_mapping import step_key

        steps = self._result.steps if self._result is not None else {}
        key = step_key(name)
        return [StepRun(name, steps[key])] if key in steps else []

    def get_portal_url(self) -> str:
        return self._result.run_dir if self._result is not None else self.id
