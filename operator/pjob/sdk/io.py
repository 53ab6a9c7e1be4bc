"""``Input`` and ``Output`` with the keyword arguments of Azure's SDK v2
(``azure.ai.ml.Input`` / ``Output``). Each is a thin, mutable front of the
spec model it becomes (``pjob.spec.models.DataInput`` / ``DataOutput``): values
are validated when constructed and when an attribute is set, so a bad type or
mode fails where it was written. Used by user code and the SDK builders."""

from __future__ import annotations

from typing import Any

import pydantic

from pjob.sdk import args, paths
from pjob.spec import models


class SpecBacked:
    """An object whose public attributes are the fields of a validated spec
    model. Subclasses set ``_MODEL``, ``_WHAT`` (name used in errors) and
    ``_PATH_FIELDS`` (local paths: stored absolute, dumped relative)."""

    _MODEL: type[pydantic.BaseModel]
    _WHAT = "object"
    _PATH_FIELDS: tuple[str, ...] = ()

    def _init_spec(self, data: dict[str, Any], where: str | None = None) -> None:
        data = {k: v for k, v in data.items() if v is not None}
        for field in self._PATH_FIELDS:
            if field in data:
                data[field] = paths.absolute(data[field])
        object.__setattr__(self, "_spec", args.validate(self._MODEL, data, where or self._WHAT))

    def __getattr__(self, name: str) -> Any:
        spec = self.__dict__.get("_spec")
        if spec is not None and name in type(spec).model_fields:
            return getattr(spec, name)
        raise AttributeError(
            f"{self._WHAT} has no attribute {name!r}{args.did_you_mean(name, self._MODEL.model_fields)}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if name in self._PATH_FIELDS:
            value = paths.absolute(value)
        args.assign(self._spec, name, self._coerce(name, value), self._WHAT)

    def _coerce(self, name: str, value: Any) -> Any:
        return value

    def _to_dict(self, base_dir: str | None = None) -> dict[str, Any]:
        """The spec mapping (as in YAML): ``None`` fields left out, local paths
        relative to ``base_dir`` (absolute when it is None)."""
        out = self._spec.model_dump(by_alias=True, exclude_none=True)
        for field in self._PATH_FIELDS:
            if isinstance(out.get(field), str):
                out[field] = paths.render(out[field], base_dir)
        return out

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._spec == self._spec

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._to_dict().items())
        return f"{type(self).__name__}({fields})"


def _input_mode(mode: Any) -> Any:
    return "ro_mount" if mode == "mount" else mode


def _output_mode(mode: Any) -> Any:
    return "rw_mount" if mode == "mount" else mode


_INPUT_UNSUPPORTED = {
    "datastore": "write the location into path (azureml://datastores/<name>/paths/<path>)",
    "path_on_compute": "pjob decides where data appears; read the path your script receives",
    "intellectual_property": "not applicable outside Azure",
}


class Input(SpecBacked):
    """A data input (``uri_folder`` default, ``uri_file``, ``mltable``) or a
    typed literal (``string``, ``integer``, ``number``, ``boolean``).

    ``Input(type="mltable", path="./data", mode="direct")``. A relative path is
    relative to the current directory when the Input is created (as in Azure)."""

    _MODEL = models.DataInput
    _WHAT = "Input"
    _PATH_FIELDS = ("path",)

    def __init__(
        self,
        *,
        type: str = "uri_folder",
        path: Any = None,
        mode: str | None = None,
        description: str | None = None,
        default: Any = None,
        optional: bool | None = None,
        min: float | None = None,
        max: float | None = None,
        enum: list[str] | None = None,
        **kwargs: Any,
    ):
        args.reject_unknown(
            "Input()",
            kwargs,
            ["type", "path", "mode", "description", "default", "optional", "min", "max", "enum"],
            _INPUT_UNSUPPORTED,
        )
        data = dict(
            type=type,
            path=path,
            mode=_input_mode(mode),
            description=description,
            default=default,
            optional=optional,
            min=min,
            max=max,
            enum=enum,
        )
        if type not in models.DATA_TYPES and "path" in data and path is not None:
            raise ValueError(f"Input(type={type!r}): a literal input takes default=..., not path=...")
        self._init_spec(data, "Input()")

    def _coerce(self, name: str, value: Any) -> Any:
        return _input_mode(value) if name == "mode" else value


class Output(SpecBacked):
    """An output location: ``Output(type="uri_folder", path=None, mode="rw_mount")``.
    Without a path, pjob writes under the run folder (locally) or the default
    datastore (on a cluster)."""

    _MODEL = models.DataOutput
    _WHAT = "Output"
    _PATH_FIELDS = ("path",)

    def __init__(
        self,
        *,
        type: str = "uri_folder",
        path: Any = None,
        mode: str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ):
        unsupported = {
            "name": "outputs are not registered as named data assets by pjob",
            "version": "outputs are not registered as named data assets by pjob",
            "is_control": "control outputs are not supported",
            "early_available": "not supported",
        }
        args.reject_unknown("Output()", kwargs, ["type", "path", "mode", "description"], unsupported)
        self._init_spec(dict(type=type, path=path, mode=_output_mode(mode), description=description), "Output()")

    def _coerce(self, name: str, value: Any) -> Any:
        return _output_mode(value) if name == "mode" else value
