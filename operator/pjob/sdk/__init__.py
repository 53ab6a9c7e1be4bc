"""pjob's Python SDK: Azure ML SDK v2 names and keyword arguments, so a
pipeline script written for ``azure.ai.ml`` needs only its imports changed:

    azure.ai.ml            -> pjob.sdk            (Input, Output, load_component, command, MLClient)
    azure.ai.ml.dsl        -> pjob.sdk.dsl        (pipeline)
    azure.ai.ml.entities   -> pjob.sdk.entities   (Environment, PipelineJob)
    azure.ai.ml.constants  -> pjob.sdk.constants  (AssetTypes, InputOutputModes)
    azure.ai.ml.parallel   -> pjob.sdk.parallel   (parallel_run_function, RunFunction)
    azure.identity         -> pjob.identity       (DefaultAzureCredential, InteractiveBrowserCredential)
    azureml.core / azureml.pipeline.* (SDK v1)  -> pjob.sdk.v1 (ParallelRunConfig, ParallelRunStep, ...)

Everything builds ``pjob.spec.models`` (the same models a YAML file loads
into); ``run_local`` runs a job here like ``pjob run``, ``submit`` sends it to
a cluster like ``pjob submit``.
"""

from __future__ import annotations

from pjob.sdk import dsl
from pjob.sdk.client import LocalRunResult, run_local, submit
from pjob.sdk.command import command, load_component
from pjob.sdk.constants import AssetTypes, InputOutputModes
from pjob.sdk.entities import Environment
from pjob.sdk.io import Input, Output
from pjob.sdk.mlclient import JobException, MLClient
from pjob.sdk.parallel import RunFunction, parallel_run_function
from pjob.sdk.pipeline import PipelineJob, pipeline

__all__ = [
    "AssetTypes",
    "Environment",
    "Input",
    "InputOutputModes",
    "JobException",
    "LocalRunResult",
    "MLClient",
    "Output",
    "PipelineJob",
    "RunFunction",
    "command",
    "dsl",
    "load_component",
    "parallel_run_function",
    "pipeline",
    "run_local",
    "submit",
]
