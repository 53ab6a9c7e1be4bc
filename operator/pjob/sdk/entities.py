"""``pjob.sdk.entities``: the Azure ``azure.ai.ml.entities`` names a pipeline
script imports (``Environment``, ``ResourceConfiguration``, ``PipelineJob``,
``Input``, ``Output``).
``Environment`` fronts ``pjob.spec.models.Environment``: on a cluster the image
runs the workers; locally the current Python is used (``pjob run`` warns)."""

from __future__ import annotations

from typing import Any

from pjob.sdk import args
from pjob.sdk.io import Input, Output, SpecBacked
from pjob.sdk.pipeline import PipelineJob
from pjob.spec import models


class Environment(SpecBacked):
    """``Environment(image=..., conda_file="./env.yml", name=..., version=...)``.
    A relative ``conda_file`` is relative to the current directory (as in Azure)."""

    _MODEL = models.Environment
    _WHAT = "Environment"
    _PATH_FIELDS = ("conda_file",)

    def __init__(
        self,
        *,
        name: str | None = None,
        version: str | int | None = None,
        description: str | None = None,
        image: str | None = None,
        conda_file: Any = None,
        build: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        os_type: str | None = None,
        inference_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        known = [
            "name",
            "version",
            "description",
            "image",
            "conda_file",
            "build",
            "tags",
            "os_type",
            "inference_config",
        ]
        args.reject_unknown(
            "Environment()",
            kwargs,
            known,
            {"datastore": "environments are not registered by pjob", "properties": "not supported"},
        )
        if build is not None and not isinstance(build, dict):
            path = getattr(build, "path", None)
            build = {"path": path} if path else build
        data = dict(
            name=name,
            version=version,
            description=description,
            image=image,
            conda_file=conda_file,
            build=build,
            tags=tags,
            os_type=os_type,
            inference_config=inference_config,
        )
        self._init_spec(data, "Environment()")

    def _to_dict(self, base_dir: str | None = None) -> dict[str, Any]:
        out = super()._to_dict(base_dir)
        if isinstance(out.get("conda_file"), dict):
            out["conda_file"] = dict(out["conda_file"])
        return out


class ResourceConfiguration(SpecBacked):
    """``ResourceConfiguration(instance_count=2)`` for ``step.resources = ...``;
    instance_type and properties are accepted for compatibility."""

    _MODEL = models.Resources
    _WHAT = "ResourceConfiguration"

    def __init__(
        self,
        *,
        instance_count: int | None = None,
        instance_type: str | None = None,
        shm_size: str | None = None,
        properties: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        args.reject_unknown(
            "ResourceConfiguration()",
            kwargs,
            ["instance_count", "instance_type", "shm_size", "properties"],
            {"docker_args": "pjob does not pass docker arguments", "locations": "not applicable outside Azure"},
        )
        self._init_spec(
            dict(instance_count=instance_count, instance_type=instance_type, shm_size=shm_size, properties=properties),
            "ResourceConfiguration()",
        )


def environment_value(env: Any, where: str) -> Any:
    """An ``environment=`` argument as a spec value: an Environment, a
    reference string (``azureml:name:version``), or None."""
    if env is None or isinstance(env, (Environment, str)):
        return env
    if isinstance(env, dict):
        return Environment(**env)
    raise TypeError(
        f"{where}: environment must be an Environment, a reference string such as 'azureml:my-env:1', or None; got {type(env).__name__}"
    )


def render_environment(env: Any, base_dir: str | None) -> Any:
    return env._to_dict(base_dir) if isinstance(env, Environment) else env


__all__ = ["Environment", "Input", "Output", "PipelineJob", "ResourceConfiguration"]


class AmlCompute:
    """Azure's compute cluster definition, accepted so a notebook's "create the
    compute if it is missing" cell runs: ``ml_client.begin_create_or_update(AmlCompute(...))``
    creates nothing (jobs run where the client points, ``pjob.sdk.mlclient``)."""

    def __init__(
        self,
        *,
        name: str,
        type: str = "amlcompute",
        size: str | None = None,
        min_instances: int | None = None,
        max_instances: int | None = None,
        idle_time_before_scale_down: int | None = None,
        tier: str | None = None,
        **kwargs: Any,
    ):
        self.name, self.type, self.size = name, type, size
        self.min_instances, self.max_instances = min_instances, max_instances
        self.idle_time_before_scale_down, self.tier = idle_time_before_scale_down, tier
        self.properties = dict(kwargs)  # location, identity, network settings...: Azure-only, kept for display
