"""Azure ML SDK v1 parallel pipelines on pjob: a script written for
``azureml-core`` / ``azureml-pipeline`` runs with its ``azureml.*`` imports
changed to ``pjob.sdk.v1`` (one namespace for all of them):

    from azureml.core import Workspace, Experiment, Dataset, Environment   -> from pjob.sdk.v1 import ...
    from azureml.core.compute import AmlCompute, ComputeTarget             -> from pjob.sdk.v1 import ...
    from azureml.data import OutputFileDatasetConfig                       -> from pjob.sdk.v1 import ...
    from azureml.pipeline.core import Pipeline, PipelineData               -> from pjob.sdk.v1 import ...
    from azureml.pipeline.steps import ParallelRunConfig, ParallelRunStep  -> from pjob.sdk.v1 import ...

``Experiment(ws, name).submit(Pipeline(ws, steps=[ParallelRunStep(...)]))``
maps each step onto the same pipeline spec as a v2 YAML (``spec_mapping.pipeline_spec``;
the table is in docs/sdk.md) and runs it like ``pjob run`` (or submits it
like ``pjob submit`` when the workspace's pjob config names a cluster).
"""

from __future__ import annotations

from pjob.sdk.v1.core import (
    AmlCompute,
    ComputeTarget,
    CondaDependencies,
    Dataset,
    Datastore,
    Environment,
    FileDataset,
    NamedInput,
    TabularDataset,
    Workspace,
)
from pjob.sdk.v1.spec_mapping import pipeline_spec
from pjob.sdk.v1.steps import (
    Experiment,
    OutputFileDatasetConfig,
    ParallelRunConfig,
    ParallelRunStep,
    Pipeline,
    PipelineData,
    PipelineRun,
    PythonScriptStep,
)


class ComputeTargetException(Exception):
    """Azure's ``azureml.core.compute_target.ComputeTargetException`` (pjob never raises it: every compute name exists)."""


__all__ = [
    "AmlCompute",
    "ComputeTarget",
    "ComputeTargetException",
    "CondaDependencies",
    "Dataset",
    "Datastore",
    "Environment",
    "Experiment",
    "FileDataset",
    "NamedInput",
    "OutputFileDatasetConfig",
    "ParallelRunConfig",
    "ParallelRunStep",
    "Pipeline",
    "PipelineData",
    "PipelineRun",
    "PythonScriptStep",
    "TabularDataset",
    "Workspace",
    "pipeline_spec",
]
