"""``PipelineJob``: what ``@pipeline()`` (``pjob.sdk.pipeline``) returns, with its inputs, outputs,
settings and steps. ``to_model()`` produces ``pjob.spec.models.PipelineJob`` through the same
validation as a YAML file (``pjob.spec.load.load_data``), and ``dump()`` writes that YAML.
"""

from __future__ import annotations

import os
from typing import Any

from pjob.sdk import args, io, nodes
from pjob.spec import checks, load, models, yamlio

SCHEMA = "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json"
SETTINGS = ("default_compute", "default_datastore", "continue_on_step_failure", "force_rerun", "default_environment")


class PipelineOutput(io.SpecBacked):
    """``pipeline_job.outputs.<name>``: ``.type``, ``.mode``, ``.path`` of a pipeline output."""

    _MODEL = models.DataOutput
    _PATH_FIELDS = ("path",)

    def __init__(self, name: str, spec: models.DataOutput):
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_WHAT", f"pipeline outputs.{name}")


class _Namespace:
    """Attribute/item access over a dict (``job.inputs.x``, ``job.outputs.y``)."""

    def __init__(self, what: str, items: dict[str, Any]):
        object.__setattr__(self, "_what", what)
        object.__setattr__(self, "_items", items)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        items = self.__dict__["_items"]
        if name in items:
            return items[name]
        raise AttributeError(f"the pipeline has no {self._what} {name!r}{args.did_you_mean(name, items)}")

    __getitem__ = __getattr__

    def __setattr__(self, name: str, value: Any) -> None:
        self.__getattr__(name)
        self._items[name] = value

    __setitem__ = __setattr__

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def keys(self):
        return self._items.keys()

    def items(self):
        return self._items.items()

    def values(self):
        return self._items.values()


class PipelineJob:
    """A pipeline built by a ``@pipeline`` function. Attributes: ``jobs``
    (step name -> node), ``inputs``, ``outputs`` (``.type/.mode/.path``),
    ``settings`` (``default_compute``, ``continue_on_step_failure``, ...),
    ``name``, ``display_name``, ``description``, ``experiment_name``, ``tags``."""

    _ATTRS = ("name", "display_name", "description", "experiment_name", "tags", "properties", "compute")

    def __init__(
        self,
        *,
        jobs: dict[str, nodes.Node],
        inputs: dict[str, Any],
        outputs: dict[str, PipelineOutput],
        settings: models.PipelineSettings,
        source: str,
        **attrs: Any,
    ):
        object.__setattr__(self, "jobs", jobs)
        object.__setattr__(self, "inputs", _Namespace("input", inputs))
        object.__setattr__(self, "outputs", _Namespace("output", outputs))
        object.__setattr__(self, "settings", settings)
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_attrs", {k: attrs.get(k) for k in self._ATTRS})
        for key in ("tags", "properties"):  # dicts to update in place, as in Azure (job.tags.update(...))
            self._attrs[key] = dict(self._attrs[key] or {})

    def __getattr__(self, name: str) -> Any:
        attrs = self.__dict__.get("_attrs", {})
        if name in attrs:
            return attrs[name]
        raise AttributeError(
            f"PipelineJob has no attribute {name!r}{args.did_you_mean(name, [*self._ATTRS, 'jobs', 'inputs', 'outputs', 'settings'])}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._ATTRS:
            raise AttributeError(
                f"PipelineJob has no settable attribute {name!r}{args.did_you_mean(name, self._ATTRS)}"
            )
        if name in ("tags", "properties") and value is not None and not isinstance(value, dict):
            raise TypeError(f"PipelineJob.{name} must be a dict, got {type(value).__name__}")
        if name not in ("tags", "properties") and value is not None and not isinstance(value, str):
            raise TypeError(f"PipelineJob.{name} must be a string, got {type(value).__name__}")
        self._attrs[name] = {} if value is None and name in ("tags", "properties") else value

    # -- to the spec ---------------------------------------------------------
    def to_dict(self, base_dir: str | None = None) -> dict[str, Any]:
        """The pipeline YAML as a mapping; local paths relative to ``base_dir``
        (absolute when None)."""
        names = {id(node): name for name, node in self.jobs.items()}
        out: dict[str, Any] = {"$schema": SCHEMA, "type": "pipeline"}
        out.update({k: v for k, v in self._attrs.items() if v is not None and v != {}})
        settings = self.settings.model_dump(exclude_none=True)
        if settings:
            out["settings"] = settings
        ins = {k: _render_pipeline_input(k, v, base_dir) for k, v in self.inputs.items()}
        ins = {k: v for k, v in ins.items() if v is not None}
        if ins:
            out["inputs"] = ins
        if len(self.outputs):
            out["outputs"] = {k: v._to_dict(base_dir) for k, v in self.outputs.items()}
        out["jobs"] = {name: node.render(names, base_dir) for name, node in self.jobs.items()}
        return out

    def to_loaded(self, base_dir: str | None = None, *, check: bool = True, check_files: bool = True) -> load.LoadedJob:
        """Validate like a YAML file (models, then ``pjob.spec.checks``) and
        return the ``LoadedJob`` the local runner takes. Raises UserError."""
        base = base_dir or os.getcwd()
        data = self.to_dict(base_dir)
        loaded = load.load_data(data, os.path.join(base, f"<{self._source}>"), {})
        loaded.raise_if_problems()
        if check:
            checks.check(loaded, check_files=check_files)
            loaded.raise_if_problems()
        return loaded

    def to_model(self, base_dir: str | None = None) -> models.PipelineJob:
        """The ``pjob.spec.models.PipelineJob`` (the same model ``pjob.spec.load``
        builds from YAML). Paths relative to ``base_dir``, absolute when None."""
        job = self.to_loaded(base_dir, check=False).job
        assert job is not None  # built from a model, never from a file that failed to load
        return job

    def validate(self, *, check_files: bool = True) -> list[str]:
        """Run every check ``pjob validate`` runs; raises UserError on problems,
        returns warnings."""
        return self.to_loaded(check_files=check_files).warnings

    def dump(self, dest: Any = None, **kwargs: Any) -> str:
        """Write the pipeline YAML to ``dest`` (a path or a text stream) with
        local paths relative to the file's folder; returns the YAML text.
        The job is model-validated first; nothing is written if it is invalid."""
        args.reject_unknown("dump()", kwargs, ["dest"])
        if dest is None or not isinstance(dest, (str, os.PathLike)):
            base = os.getcwd()
            text = self._yaml(base)
            if dest is not None:
                dest.write(text)
            return text
        path = os.path.abspath(os.fspath(dest))
        text = self._yaml(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return text

    def _yaml(self, base_dir: str) -> str:
        self.to_loaded(base_dir, check=False)  # the same validation as loading the YAML
        return yamlio.dump_yaml(self.to_dict(base_dir))

    def __str__(self) -> str:
        return yamlio.dump_yaml(self.to_dict(os.getcwd()))

    def __repr__(self) -> str:
        return f"PipelineJob(display_name={self.display_name!r}, jobs={list(self.jobs)})"


def _render_pipeline_input(name: str, value: Any, base_dir: str | None) -> Any:
    if value is None:
        return None
    if isinstance(value, io.Input):
        return value._to_dict(base_dir)
    if isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(
        f"pipeline input {name!r}: expected an Input or a literal (str, int, float, bool), got {type(value).__name__}"
    )
