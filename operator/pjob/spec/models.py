"""Pydantic v2 models of Azure ML job YAML (CLI v2 ``type: pipeline`` with
``type: parallel`` and ``type: command`` steps, and commandComponent files).

These models are the single source of truth: YAML loading, the SDK, the
operator and the generated CRDs (``pjob.spec.crds``) all use them. Field names
and defaults follow docs/writing-jobs.md, "The job YAML, key by key". Models do no I/O; cross-field
checks that need files or other steps live in ``pjob.spec.checks``.
"""

from __future__ import annotations

import os
import re
import sys
import types
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# These models need no third-party pydantic plugins. Building them with plugins
# off skips pydantic's entry-point scan of every installed distribution (~15 ms
# of every `pjob` start). Restored at the end of this module, so the user's own
# pydantic models (in entry scripts) still get their plugins.
_PLUGINS_ENV = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
# Even with plugins off, building a model imports pydantic's plugin loader, and
# with it importlib.metadata (~15 ms, nothing else on `pjob run` needs it): a
# stand-in that finds no plugins is used while these models are built, then
# removed, so a user's model imports the real loader.
_LOADER = "pydantic.plugin._loader"
_STUB_LOADER = _LOADER not in sys.modules


def _real_loader(name: str) -> Any:
    """Anything but get_plugins (a later pydantic may ask): the real loader's.
    (Dunder names are the import system's questions: no such attribute.)"""
    import importlib

    if name.startswith("__"):
        raise AttributeError(name)
    sys.modules.pop(_LOADER, None)
    return getattr(importlib.import_module(_LOADER), name)


if _STUB_LOADER:
    sys.modules[_LOADER] = types.ModuleType(_LOADER, "no pydantic plugins while pjob's models are built")
    sys.modules[_LOADER].get_plugins = lambda: ()  # type: ignore[attr-defined]
    setattr(sys.modules[_LOADER], "__getattr__", _real_loader)  # noqa: B010 (a module's __getattr__)

MINI_BATCH_SIZE = re.compile(r"^\d+([kKmMgG][bB])?$")
LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING")
DATA_TYPES = ("uri_file", "uri_folder", "mltable")
LITERAL_TYPES = ("string", "integer", "number", "boolean")
INPUT_MODES = ("ro_mount", "download", "direct", "eval_mount", "eval_download")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)


def not_boolean(v):
    """Number fields: YAML ``true`` is not 1 (pydantic would take it as 1), it is a mistake."""
    if isinstance(v, bool):
        raise ValueError(f"got {str(v).lower()}, a boolean; give a number")
    return v


def env_values(v: dict | None) -> dict | None:
    """Environment variable values are strings; numbers and true/false are
    written as text, a list or mapping is refused (it has no one text form)."""
    if v is None:
        return None
    for key, value in v.items():
        if isinstance(value, (list, dict)):
            raise ValueError(
                f"{key}: got a {'list' if isinstance(value, list) else 'mapping'}; an environment "
                'variable is one string: quote it ("[1, 2]") or give a string, number or true/false'
            )
    return {str(k): ("" if x is None else str(x)) for k, x in v.items()}


class DataInput(Model):
    """An input: data (uri_file, uri_folder, mltable) or a typed literal."""

    type: Literal[
        "uri_file",
        "uri_folder",
        "mltable",
        "string",
        "integer",
        "number",
        "boolean",
        "custom_model",
        "mlflow_model",
        "triton_model",
    ] = Field(
        "uri_folder",
        description="uri_folder (default), uri_file, mltable, or a literal type (string, integer, number, boolean).",
    )
    path: str | None = Field(
        None,
        description="Local path (relative to the YAML), azureml://datastores/<ds>/paths/<p>, any fsspec URL, or a ${{...}} binding.",
    )
    mode: Literal["ro_mount", "download", "direct", "eval_mount", "eval_download"] | None = Field(
        None,
        description="How the data reaches the script; pjob maps every mode to a local path or an fsspec read. Default ro_mount.",
    )
    default: bool | int | float | str | None = Field(None, description="Default value (component inputs).")
    value: bool | int | float | str | None = Field(None, description="Literal value.")
    optional: bool | None = Field(None, description="Whether the input may be left unset (component inputs).")
    description: str | None = Field(None, description="Free text.")
    min: float | None = Field(None, description="Smallest allowed value (number/integer inputs).")
    max: float | None = Field(None, description="Largest allowed value (number/integer inputs).")
    enum: list[str] | None = Field(None, description="Allowed values (string inputs).")

    @field_validator("default", "value")
    @classmethod
    def _literal_matches_type(cls, given, info):
        kind = info.data.get("type")
        if given is None or kind not in LITERAL_TYPES or (isinstance(given, str) and "${{" in given):
            return given
        if not _fits(kind, given):
            raise ValueError(f"got {given!r}; a {kind} input needs a {_KIND[kind]}")
        return given


_KIND = {"integer": "whole number", "number": "number", "boolean": "true or false", "string": "text"}


def _fits(kind: str, value) -> bool:
    if kind == "string":
        return True
    if kind == "boolean":
        return isinstance(value, bool) or str(value).lower() in ("true", "false")
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return kind == "number" or number.is_integer()


class DataOutput(Model):
    """An output location. Default type uri_folder, mode rw_mount."""

    type: Literal["uri_file", "uri_folder", "mltable", "custom_model", "mlflow_model", "triton_model"] = Field(
        "uri_folder", description="uri_folder (default), uri_file or mltable."
    )
    mode: Literal["rw_mount", "upload", "direct"] | None = Field(
        None, description="rw_mount (default), upload or direct; all are a writable local path in pjob."
    )
    path: str | None = Field(
        None, description="Where to write; default under the run folder (local) or the default datastore (cluster)."
    )
    description: str | None = Field(None, description="Free text.")


# An input entry: a literal (or a ${{...}} binding string) or a DataInput.
InputValue = DataInput | bool | int | float | str
OutputValue = DataOutput | str | None


class RetrySettings(Model):
    """How often and how long one mini-batch may run."""

    max_retries: int = Field(
        2, ge=0, description="Retries of a failed or timed-out mini-batch; attempts = 1 + max_retries."
    )
    timeout: int = Field(60, gt=0, le=259200, description="Seconds one run() call may take, in (0, 259200].")

    _numbers = field_validator("max_retries", "timeout", mode="before")(lambda v: not_boolean(v))


class Resources(Model):
    """Compute size of a step."""

    instance_count: int = Field(1, ge=1, description="Nodes (worker pods; locally, agent processes).")
    instance_type: str | None = Field(None, description="Accepted for compatibility; ignored.")
    shm_size: str | None = Field(None, description="Accepted for compatibility; ignored.")
    properties: dict[str, Any] | None = Field(None, description="Accepted for compatibility; ignored.")

    _numbers = field_validator("instance_count", mode="before")(lambda v: not_boolean(v))


class Environment(Model):
    """An inline environment: a container image and optionally a conda file."""

    name: str | None = Field(None, description="Environment name.")
    version: str | int | None = Field(None, description="Environment version.")
    image: str | None = Field(None, description="Container image of the workers.")
    conda_file: str | dict[str, Any] | None = Field(
        None, description="Conda YAML (path or inline); its pip list may be installed at pod start."
    )
    build: dict[str, Any] | None = Field(None, description="Docker build context (accepted; not built by pjob).")
    description: str | None = Field(None, description="Free text.")
    tags: dict[str, Any] | None = Field(None, description="Free-form tags.")
    os_type: str | None = Field(None, description="Accepted for compatibility.")
    inference_config: dict[str, Any] | None = Field(None, description="Accepted for compatibility.")


EnvironmentRef = Environment | str


class RunFunctionTask(Model):
    """The entry script of a parallel step."""

    type: Literal["run_function"] = Field("run_function", description="Only run_function is supported.")
    code: str | None = Field(None, description="Folder holding the entry script (relative to the YAML).")
    entry_script: str = Field(..., description="A .py file inside code (or a dotted module path).")
    environment: EnvironmentRef | None = Field(
        None, description="Inline environment or a reference (azureml:name:version)."
    )
    program_arguments: str | None = Field(
        None,
        description="Arguments for the entry script; ${{inputs.x}} substituted, $[[...]] optional; runtime flags read from it.",
    )
    append_row_to: str | None = Field(
        None, description="${{outputs.<name>}}: aggregate run() returns into that output."
    )
    environment_variables: dict[str, Any] | None = Field(
        None, description="Extra environment variables (also accepted at step level)."
    )

    @field_validator("environment_variables")
    @classmethod
    def _env_values_are_strings(cls, v):
        return env_values(v)


class StepCommon(Model):
    """Keys every step accepts (Azure plumbing is accepted and ignored locally)."""

    name: str | None = Field(None, description="Step name (defaults to its key under jobs).")
    display_name: str | None = Field(None, description="Human name.")
    description: str | None = Field(None, description="Free text.")
    tags: dict[str, Any] | None = Field(None, description="Free-form tags.")
    properties: dict[str, Any] | None = Field(None, description="Free-form properties.")
    experiment_name: str | None = Field(None, description="Accepted; used as a label.")
    compute: str | None = Field(None, description="azureml: compute reference; ignored by pjob.")
    identity: dict[str, Any] | None = Field(None, description="Accepted; ignored.")
    is_deterministic: bool | None = Field(None, description="Accepted; ignored.")
    inputs: dict[str, InputValue] = Field(
        default_factory=dict, description="Step inputs: literals, bindings or data inputs."
    )
    outputs: dict[str, OutputValue] = Field(default_factory=dict, description="Step outputs.")
    resources: Resources | None = Field(None, description="instance_count and Azure sizing.")
    environment_variables: dict[str, Any] | None = Field(
        None, description="Environment variables for the step's processes; may bind ${{inputs.x}}."
    )

    @field_validator("environment_variables")
    @classmethod
    def _env_values_are_strings(cls, v):
        return env_values(v)


class ParallelStep(StepCommon):
    """A ``type: parallel`` step: split ``input_data`` into mini-batches and run the entry script over them."""

    type: Literal["parallel"] = Field("parallel", description="parallel")
    input_data: str = Field(..., description="${{inputs.<name>}}: the input that is split into mini-batches.")
    mini_batch_size: str | None = Field(
        None,
        json_schema_extra={"pattern": MINI_BATCH_SIZE.pattern},
        description='Files per mini-batch ("10"), or approximate bytes for tables ("10kb", "1mb", "1gb"). Default 10 files / 1 MiB.',
    )
    partition_keys: list[str] | None = Field(
        None, description="Columns; each distinct key combination is one mini-batch. Wins over mini_batch_size."
    )
    max_concurrency_per_instance: int | None = Field(
        None, ge=1, description="Worker processes per instance; default = CPU cores."
    )
    mini_batch_error_threshold: int = Field(
        -1, ge=-1, description="Failed mini-batches tolerated; -1 ignores failures."
    )
    error_threshold: int = Field(-1, ge=-1, description="Failed items tolerated; -1 ignores failures.")
    retry_settings: RetrySettings = Field(default_factory=RetrySettings, description="Retries and per-call timeout.")
    logging_level: Literal["DEBUG", "INFO", "WARNING"] = Field("INFO", description="DEBUG, INFO or WARNING.")
    task: RunFunctionTask = Field(..., description="The entry script and its arguments.")

    _numbers = field_validator(
        "max_concurrency_per_instance", "mini_batch_error_threshold", "error_threshold", mode="before"
    )(lambda v: not_boolean(v))

    @field_validator("mini_batch_size", mode="before")
    @classmethod
    def _size(cls, v):
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ValueError('must be a string such as "10" (files) or "10kb", "1mb" (bytes)')
        v = str(v)
        if not MINI_BATCH_SIZE.match(v):
            raise ValueError(
                f'{v!r} is not a size; use a whole number of files ("10") or of bytes with kb/mb/gb and no space ("10kb", "1mb")'
            )
        if int(re.match(r"\d+", v)[0]) == 0:
            raise ValueError("must be greater than 0")
        return v


class Limits(Model):
    """Limits of a command step."""

    timeout: int | None = Field(None, gt=0, description="Seconds the command may run before it is killed.")

    _numbers = field_validator("timeout", mode="before")(lambda v: not_boolean(v))


class CommandStep(StepCommon):
    """A ``type: command`` step: inline ``command`` or a ``component`` YAML."""

    type: Literal["command"] = Field("command", description="command")
    command: str | None = Field(None, description="Shell command; ${{inputs.x}}/${{outputs.y}} substituted.")
    code: str | None = Field(None, description="Working folder of the command (relative to the YAML).")
    environment: EnvironmentRef | None = Field(None, description="Inline environment or a reference.")
    component: str | None = Field(None, description="Path of a commandComponent YAML (relative to the pipeline file).")
    distribution: dict[str, Any] | None = Field(None, description="Accepted; ignored.")
    limits: Limits | None = Field(None, description="limits.timeout: seconds the command may run.")
    services: dict[str, Any] | None = Field(None, description="Accepted; ignored.")
    queue_settings: dict[str, Any] | None = Field(None, description="Accepted; ignored.")


Step = Annotated[ParallelStep | CommandStep, Field(discriminator="type")]


class CommandComponent(Model):
    """A commandComponent YAML file (``component: ./x.yml``)."""

    schema_: str | None = Field(None, alias="$schema")
    type: Literal["command"] = "command"
    name: str | None = None
    display_name: str | None = None
    version: str | int | None = None
    description: str | None = None
    tags: dict[str, Any] | None = None
    is_deterministic: bool | None = None
    inputs: dict[str, DataInput] = Field(default_factory=dict)
    outputs: dict[str, DataOutput] = Field(default_factory=dict)
    code: str | None = None
    environment: EnvironmentRef | None = None
    command: str
    environment_variables: dict[str, Any] | None = None
    resources: Resources | None = None

    @field_validator("environment_variables")
    @classmethod
    def _env_values_are_strings(cls, v):
        return env_values(v)

    distribution: dict[str, Any] | None = None


class PipelineSettings(Model):
    """Pipeline-level settings."""

    default_compute: str | None = Field(None, description="azureml: compute reference; ignored by pjob.")
    default_datastore: str | None = Field(None, description="Datastore for ${{default_datastore}} and default outputs.")
    continue_on_step_failure: bool | None = Field(None, description="Keep running independent steps after a failure.")
    force_rerun: bool | None = Field(None, description="Accepted; pjob resumes unless --fresh.")
    default_environment: str | None = Field(None, description="Accepted; ignored.")


class PipelineJob(Model):
    """A ``type: pipeline`` job: a DAG of steps connected by bindings."""

    schema_: str | None = Field(None, alias="$schema", description="Azure ML schema URL (ignored).")
    type: Literal["pipeline"] = Field("pipeline", description="pipeline")
    name: str | None = Field(None, description="Job name; also the run folder name.")
    display_name: str | None = Field(None, description="Human name.")
    description: str | None = Field(None, description="Free text.")
    tags: dict[str, Any] | None = Field(None, description="Free-form tags.")
    properties: dict[str, Any] | None = Field(None, description="Free-form properties.")
    experiment_name: str | None = Field(None, description="Accepted; used as a label.")
    compute: str | None = Field(None, description="Accepted; ignored.")
    identity: dict[str, Any] | None = Field(None, description="Accepted; ignored.")
    settings: PipelineSettings = Field(default_factory=PipelineSettings, description="Pipeline settings.")
    inputs: dict[str, InputValue] = Field(
        default_factory=dict, description="Pipeline inputs, bound into steps with ${{parent.inputs.x}}."
    )
    outputs: dict[str, OutputValue] = Field(
        default_factory=dict, description="Pipeline outputs, bound from steps with ${{parent.outputs.x}}."
    )
    jobs: dict[str, Step] = Field(..., description="The steps, keyed by name.")


if _STUB_LOADER and getattr(sys.modules.get(_LOADER), "__getattr__", None) is _real_loader:
    del sys.modules[_LOADER]
if _PLUGINS_ENV is None:
    del os.environ["PYDANTIC_DISABLE_PLUGINS"]
else:
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = _PLUGINS_ENV
