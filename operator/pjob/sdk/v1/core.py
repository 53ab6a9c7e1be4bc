"""Azure ML SDK v1 workspace objects (``azureml.core``, ``azureml.core.compute``,
``azureml.data``): ``Workspace``, ``Datastore``, ``Dataset``, ``Environment``,
``ComputeTarget``/``AmlCompute`` and ``CondaDependencies``, as much of them as
a ParallelRunStep script uses, so it runs with only its imports changed.

A workspace is where jobs run (``pjob.sdk.workspace``: a pjob config file
found like Azure's ``config.json``, else this machine). A datastore is a
folder: ``<runs_dir>/datastores/<name>`` locally, as ``pjob run`` maps
``azureml://datastores/<name>/...``. Datasets are locations (and, for tabular
ones, read settings); nothing is registered. Called by user scripts and
``pjob.sdk.v1.steps``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from typing import Any

from pjob.sdk import workspace as where

DEFAULT_DATASTORE = "workspaceblobstore"  # the name v1 scripts see for the default datastore


class Workspace:
    """``Workspace.from_config()`` / ``Workspace(subscription_id, resource_group, workspace_name)``:
    the Azure arguments are accepted and unused; jobs run where the pjob config says."""

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        auth: Any = None,
        *,
        target: where.Target | None = None,
        **kwargs: Any,
    ):
        self.subscription_id, self.resource_group, self.name = (
            subscription_id,
            resource_group,
            workspace_name or "local",
        )
        self.target = target or where.target_for()
        self.compute_targets = _AnyName(lambda name: ComputeTarget(self, name))
        self.datastores = _AnyName(lambda name: Datastore(self, name))

    @classmethod
    def from_config(
        cls, path: str | None = None, auth: Any = None, _logger: Any = None, _file_name: str | None = None
    ) -> Workspace:
        target = where.target_for(path, _file_name)
        print(
            f"pjob: {'found ' + target.source if target.source else 'no pjob config file found'}; "
            f"jobs run on {target.describe()}",
            file=sys.stderr,
        )
        return cls(target=target)

    @classmethod
    def get(cls, name: str, *args: Any, **kwargs: Any) -> Workspace:
        return cls(workspace_name=name)

    def get_default_datastore(self) -> Datastore:
        return Datastore(self, DEFAULT_DATASTORE)

    def datastore_folder(self, name: str) -> str:
        return os.path.join(os.path.abspath(self.target.runs_dir), "datastores", name)


class _AnyName(dict):
    """``ws.compute_targets[name]`` / ``ws.datastores[name]``: every name exists."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, name: str):
        return self._make(name)

    def __contains__(self, name: object) -> bool:
        return True


class Datastore:
    def __init__(self, workspace: Workspace, name: str = DEFAULT_DATASTORE):
        self.workspace, self.name = workspace, name

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return workspace.get_default_datastore()

    def uri(self, path: str = "") -> str:
        """Where ``path`` on this datastore is: its local folder for a local workspace
        (what ``pjob run`` maps the datastore to), else the ``azureml://`` URI."""
        if self.workspace.target.local:
            return os.path.join(self.workspace.datastore_folder(self.name), path.lstrip("/"))
        return f"azureml://datastores/{self.name}/paths/{path.lstrip('/')}"

    def upload(
        self, src_dir: str, target_path: str | None = None, overwrite: bool = False, show_progress: bool = True
    ) -> DataReference:
        """Copy ``src_dir`` into this datastore's folder (local runs; a cluster's datastore is not reachable here)."""
        if not self.workspace.target.local:
            raise NotImplementedError(
                f"upload to the cluster's datastore {self.name!r} is not supported from here; copy the "
                "files to the datastore volume (or run with a local pjob config)"
            )
        dest = os.path.join(self.workspace.datastore_folder(self.name), (target_path or "").strip("/"))
        shutil.copytree(src_dir, dest, dirs_exist_ok=True)
        return DataReference(self, target_path or "")

    def upload_files(
        self,
        files: list[str],
        relative_root: str | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        dest = os.path.join(self.workspace.datastore_folder(self.name), (target_path or "").strip("/"))
        for f in files:
            rel = os.path.relpath(f, relative_root) if relative_root else os.path.basename(f)
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(f, os.path.join(dest, rel))
        return DataReference(self, target_path or "")


@dataclasses.dataclass
class DataReference:
    datastore: Datastore
    path_on_datastore: str


def data_path(path: Any) -> str:
    """A v1 path: ``(datastore, "rel/path")``, a DataReference, a URL or a local path."""
    if isinstance(path, tuple) and len(path) == 2 and isinstance(path[0], Datastore):
        return path[0].uri(path[1])
    if isinstance(path, DataReference):
        return path.datastore.uri(path.path_on_datastore)
    if isinstance(path, str):
        return path if "://" in path else os.path.abspath(path)
    raise TypeError(f"a dataset path is a string or (datastore, 'path'), got {type(path).__name__}")


class Dataset:
    """``Dataset.File.from_files(...)`` and ``Dataset.Tabular.from_*_files(...)``."""

    class File:
        @staticmethod
        def from_files(
            path: Any, validate: bool = True, partition_format: str | None = None, is_file: bool = False
        ) -> FileDataset:
            paths = path if isinstance(path, list) else [path]
            if len(paths) != 1:
                raise ValueError(
                    "pjob maps a v1 FileDataset to one folder or file: give one path (a folder holding the files)"
                )
            return FileDataset(data_path(paths[0]))

        @staticmethod
        def upload_directory(
            src_dir: str, target: Any, pattern: str | None = None, overwrite: bool = False, show_progress: bool = True
        ) -> FileDataset:
            datastore, rel = target if isinstance(target, tuple) else (target, "")
            datastore.upload(src_dir, rel, overwrite=overwrite)
            return FileDataset(datastore.uri(rel))

    class Tabular:
        @staticmethod
        def from_delimited_files(
            path: Any,
            validate: bool = True,
            include_path: bool = False,
            infer_column_types: bool = True,
            set_column_types: Any = None,
            separator: str = ",",
            header: Any = True,
            partition_format: str | None = None,
            support_multi_line: bool = False,
            empty_as_string: bool = False,
            encoding: str = "utf8",
        ) -> TabularDataset:
            if set_column_types or partition_format:
                raise ValueError(
                    "pjob.sdk.v1: set_column_types and partition_format are not mapped; write an MLTable file "
                    "with convert_column_types / extract_columns_from_partition_format and use it as the input"
                )
            mode = header if isinstance(header, str) else ("all_files_same_headers" if header else "no_header")
            mode = {
                "ALL_FILES_HAVE_SAME_HEADERS": "all_files_same_headers",
                "ONLY_FIRST_FILE_HAS_HEADERS": "from_first_file",
                "COMBINE_ALL_FILES_HEADERS": "all_files_different_headers",
                "NO_HEADERS": "no_header",
            }.get(str(mode).upper(), mode)
            reader = {
                "read_delimited": {
                    "delimiter": separator,
                    "header": mode,
                    "encoding": encoding,
                    "infer_column_types": infer_column_types,
                    "include_path_column": include_path,
                    "support_multi_line": support_multi_line,
                    "empty_as_string": empty_as_string,
                }
            }
            return TabularDataset(_paths(path), reader)

        @staticmethod
        def from_parquet_files(
            path: Any, validate: bool = True, include_path: bool = False, **kwargs: Any
        ) -> TabularDataset:
            return TabularDataset(_paths(path), {"read_parquet": {"include_path_column": include_path}})

        @staticmethod
        def from_json_lines_files(
            path: Any, validate: bool = True, include_path: bool = False, **kwargs: Any
        ) -> TabularDataset:
            return TabularDataset(_paths(path), {"read_json_lines": {"include_path_column": include_path}})

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: Any = "latest") -> Any:
        raise NotImplementedError(
            f"registered datasets ({name!r}) are not supported by pjob: create the dataset from its path "
            "(Dataset.File.from_files / Dataset.Tabular.from_delimited_files)"
        )


def _paths(path: Any) -> list[str]:
    return [data_path(p) for p in (path if isinstance(path, list) else [path])]


class FileDataset:
    def __init__(self, location: str):
        self.location = location

    def as_named_input(self, name: str) -> NamedInput:
        return NamedInput(name, self)

    def register(self, *args: Any, **kwargs: Any) -> FileDataset:
        return self  # nothing to register: the dataset is its location


class TabularDataset(FileDataset):
    def __init__(self, paths: list[str], reader: dict[str, Any]):
        super().__init__(paths[0])
        self.paths, self.reader = paths, reader

    def mltable_text(self) -> str:
        """An MLTable file describing this dataset (absolute paths), for ``pjob.sdk.v1.steps``."""
        import yaml

        entries = [
            {"pattern": p}
            if any(c in p for c in "*?[")
            else {"folder" if p.endswith("/") or os.path.isdir(p) else "file": p}
            for p in self.paths
        ]
        return yaml.safe_dump({"paths": entries, "transformations": [self.reader]}, sort_keys=False)


class NamedInput:
    """``dataset.as_named_input(name)`` (Azure's DatasetConsumptionConfig); ``as_mount()`` / ``as_download()`` set the mode."""

    def __init__(self, name: str, dataset: FileDataset, mode: str = "ro_mount"):
        self.name, self.dataset, self.mode = name, dataset, mode

    def as_mount(self, path_on_compute: str | None = None) -> NamedInput:
        return NamedInput(self.name, self.dataset, "ro_mount")

    def as_download(self, path_on_compute: str | None = None) -> NamedInput:
        return NamedInput(self.name, self.dataset, "download")


class CondaDependencies:
    """``CondaDependencies.create(pip_packages=[...], conda_packages=[...])``: written as the step's conda file."""

    def __init__(
        self,
        conda_packages: list[str] | None = None,
        pip_packages: list[str] | None = None,
        python_version: str | None = None,
    ):
        self.conda_packages, self.pip_packages = list(conda_packages or []), list(pip_packages or [])
        self.python_version = python_version

    @classmethod
    def create(
        cls,
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = None,
        **kwargs: Any,
    ) -> CondaDependencies:
        return cls(conda_packages, pip_packages, python_version)

    def add_pip_package(self, name: str) -> None:
        self.pip_packages.append(name)

    def add_conda_package(self, name: str) -> None:
        self.conda_packages.append(name)

    def yaml_text(self, name: str) -> str:
        import yaml

        deps: list[Any] = (
            ([f"python={self.python_version}"] if self.python_version else []) + self.conda_packages + ["pip"]
        )
        return yaml.safe_dump({"name": name, "dependencies": deps + [{"pip": self.pip_packages}]}, sort_keys=False)


class _Python:
    def __init__(self) -> None:
        self.conda_dependencies: CondaDependencies | None = None
        self.user_managed_dependencies = False


class _Docker:
    def __init__(self) -> None:
        self.base_image: str | None = None
        self.enabled = True


class Environment:
    """``Environment(name)``, ``from_conda_specification``, ``from_pip_requirements``,
    ``env.python.conda_dependencies = CondaDependencies.create(...)``, ``env.docker.base_image``."""

    DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"

    def __init__(self, name: str = "environment"):
        self.name = name
        self.python, self.docker = _Python(), _Docker()
        self.conda_file: str | None = None
        self.environment_variables: dict[str, str] = {}

    @classmethod
    def from_conda_specification(cls, name: str, file_path: str) -> Environment:
        env = cls(name)
        env.conda_file = os.path.abspath(file_path)
        return env

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str) -> Environment:
        env = cls(name)
        with open(file_path, encoding="utf-8") as fh:
            pip = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=pip)
        return env

    @classmethod
    def get(cls, workspace: Workspace, name: str, version: str | None = None) -> Environment:
        return cls(name)

    def register(self, workspace: Workspace) -> Environment:
        return self


class ComputeTarget:
    """Any compute name: jobs run where the workspace points."""

    def __init__(self, workspace: Workspace, name: str):
        self.workspace, self.name = workspace, name
        self.provisioning_state = "Succeeded"

    @staticmethod
    def create(workspace: Workspace, name: str, provisioning_configuration: Any = None) -> ComputeTarget:
        return ComputeTarget(workspace, name)

    def wait_for_completion(
        self, show_output: bool = False, min_node_count: int | None = None, timeout_in_minutes: int = 20
    ) -> None:
        return None

    def get_status(self) -> str:
        return self.provisioning_state

    def __repr__(self) -> str:
        return f"ComputeTarget({self.name!r}: {self.workspace.target.describe()})"


class AmlCompute(ComputeTarget):
    @staticmethod
    def provisioning_configuration(**kwargs: Any) -> dict[str, Any]:
        return dict(kwargs)  # vm_size, min_nodes, max_nodes...: nothing to provision
