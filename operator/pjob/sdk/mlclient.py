"""``MLClient``: the shape of ``azure.ai.ml.MLClient`` that notebooks use, so
their cells run with only the imports changed:

    ml_client = MLClient.from_config(credential=DefaultAzureCredential())
    ml_client.compute.get("cpu-cluster")                  # where jobs run (this machine or a cluster)
    job = ml_client.jobs.create_or_update(pipeline_job, experiment_name="samples")
    ml_client.jobs.stream(job.name)                       # follow it to the end; raises JobException if it failed

``from_config`` reads a pjob config found like Azure's ``config.json``
(``pjob.sdk.workspace``): a cluster's kubeconfig/context/namespace, or none:
this machine. Locally ``create_or_update`` runs the job to its end (the same
driver as ``pjob run``, progress on stderr); on a cluster it submits it like
``pjob submit``. Credentials, subscription, resource group and workspace
arguments are accepted and unused. Called by user scripts.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from pjob.sdk import args, client, workspace
from pjob.sdk import pipeline as sdk_pipeline


class JobException(Exception):
    """A streamed job failed (Azure's ``azure.ai.ml.exceptions.JobException``)."""


@dataclasses.dataclass
class ComputeTarget:
    """What ``ml_client.compute.get(name)`` returns: where jobs of this client run.
    Any compute name is accepted (pjob has no compute resources to look up)."""

    name: str
    type: str  # local | kubernetes
    description: str
    size: str | None = None
    min_instances: int = 0
    max_instances: int = 1
    provisioning_state: str = "Succeeded"

    def __str__(self) -> str:
        return f"compute {self.name!r}: {self.description}"


class _Done:
    """A finished long-running operation (Azure's ``LROPoller``)."""

    def __init__(self, value: Any):
        self._value = value

    def result(self, timeout: float | None = None) -> Any:
        return self._value

    def done(self) -> bool:
        return True

    def wait(self, timeout: float | None = None) -> None:
        return None


class _ComputeOperations:
    def __init__(self, ml_client: MLClient):
        self._client = ml_client

    def get(self, name: str) -> ComputeTarget:
        target = self._client.target
        if target.local:
            cores = os.cpu_count() or 1
            return ComputeTarget(
                name,
                "local",
                f"this machine ({cores} cores); runs in {target.runs_dir}",
                size=f"{cores} cores",
                max_instances=1,
            )
        return ComputeTarget(name, "kubernetes", target.describe())

    def list(self, **kwargs: Any) -> list[ComputeTarget]:
        return [self.get("local" if self._client.target.local else "cluster")]

    def begin_create_or_update(self, compute: Any, **kwargs: Any) -> _Done:
        """Nothing to create: the compute is where this client runs jobs."""
        return _Done(self.get(getattr(compute, "name", None) or "compute"))


class _JobOperations:
    def __init__(self, ml_client: MLClient):
        self._client = ml_client

    def create_or_update(
        self,
        job: Any,
        *,
        experiment_name: str | None = None,
        tags: dict | None = None,
        description: str | None = None,
        compute: str | None = None,
        skip_validation: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Run ``job`` here to its end (returns ``client.LocalRunResult``, with ``.name``
        and ``.status``) or submit it to the cluster. ``experiment_name``, ``tags`` and
        ``description`` are recorded in the job (the run folder's ``spec.yaml``);
        ``compute`` names the default compute (accepted, as every compute name is)."""
        if isinstance(job, sdk_pipeline.PipelineJob):
            for key, value in (("experiment_name", experiment_name), ("description", description)):
                if value is not None:
                    setattr(job, key, value)
            if tags:
                job.tags.update(tags)
            if compute is not None:
                job.settings.default_compute = compute
        target = self._client.target
        if target.local:
            kwargs.setdefault("show_progress", True)
            return client.run_local(job, runs_dir=target.runs_dir, **kwargs)
        return client.submit(
            job, namespace=target.namespace or "default", kubeconfig=target.kubeconfig, context=target.context, **kwargs
        )

    def stream(self, name: Any = None, **kwargs: Any) -> None:
        """Follow the job to its end and print how it ended; JobException when it failed."""
        name = getattr(name, "name", name)
        if not isinstance(name, str) or not name:
            raise ValueError("stream() needs a job or its name (the value create_or_update returned, or its .name)")
        target = self._client.target
        if not target.local:
            return self._stream_cluster(name, target)
        run_dir = os.path.join(target.runs_dir, name)
        result = client.stored_result(run_dir)
        if result is None:
            raise ValueError(f"no run named {name!r} in {target.runs_dir}")
        print(
            f"RunId: {name}\nRun folder: {run_dir}\n\n{result.job_result}\n\nExecution Summary\n=================\n"
            f"RunId: {name}\nStatus: {result.status}",
            file=sys.stdout,
            flush=True,
        )
        if result.status != "Succeeded":
            raise JobException(f"job {name} {result.status.lower()}; see {run_dir}\n{result.job_result}")
        return None

    @staticmethod
    def _stream_cluster(name: str, target: workspace.Target) -> None:
        """Follow the job like `pjob logs --follow`, then say how it ended as the local
        stream does (and Azure's): RunId, Status; JobException unless it succeeded."""
        from argparse import Namespace

        from pjob.kube import client_cmd, client_connect, client_view  # the cluster client behind `pjob logs --follow`

        where = Namespace(namespace=target.namespace, kubeconfig=target.kubeconfig, context=target.context)
        code = client_cmd.logs_main(
            Namespace(**vars(where), name=name, step=None, mini_batch=None, follow=True, datastore_root=None)
        )
        if code:
            raise JobException(f"could not follow job {name} (exit {code}); try `pjob logs {name} --follow`")
        api, namespace, _ = client_connect.connect(where)
        state = client_view.state_of(client_connect.find_job(api, namespace, name))
        print(f"\nExecution Summary\n=================\nRunId: {name}\nStatus: {state}", file=sys.stdout, flush=True)
        if state != "Succeeded":
            raise JobException(f"job {name} {state.lower()}; `pjob logs {name} -n {namespace}` says why")


class MLClient:
    """``MLClient(namespace="ml")`` submits to the cluster; ``MLClient(local=True,
    runs_dir=...)`` runs on this machine; ``MLClient.from_config(...)`` decides
    from a pjob config file (``pjob.sdk.workspace``). Azure's credential,
    subscription, resource group and workspace arguments are accepted and ignored."""

    def __init__(
        self,
        credential: Any = None,
        subscription_id: str | None = None,
        resource_group_name: str | None = None,
        workspace_name: str | None = None,
        *,
        namespace: str = "default",
        local: bool = False,
        runs_dir: str = "pjob-runs",
        context: str | None = None,
        kubeconfig: str | None = None,
        **kwargs: Any,
    ):
        args.reject_unknown(
            "MLClient()",
            kwargs,
            [
                "credential",
                "subscription_id",
                "resource_group_name",
                "workspace_name",
                "namespace",
                "local",
                "runs_dir",
                "context",
                "kubeconfig",
            ],
        )
        self.target = workspace.Target(
            local=local, runs_dir=runs_dir, namespace=namespace, context=context, kubeconfig=kubeconfig
        )
        self.jobs = _JobOperations(self)
        self.compute = _ComputeOperations(self)

    @property
    def local(self) -> bool:
        return self.target.local

    @property
    def namespace(self) -> str:
        return self.target.namespace or "default"

    @property
    def runs_dir(self) -> str:
        return self.target.runs_dir

    @classmethod
    def from_config(
        cls, credential: Any = None, *, path: Any = None, file_name: str | None = None, **kwargs: Any
    ) -> MLClient:
        """Read where to run from the nearest ``pjob-config.json`` / ``.pjob/config.json``
        (from ``path`` or the current folder upwards); none: run on this machine."""
        args.reject_unknown(
            "MLClient.from_config()", kwargs, ["subscription_id", "resource_group_name", "workspace_name"]
        )
        target = workspace.target_for(path, file_name)
        print(
            f"pjob: {'found ' + target.source if target.source else 'no pjob config file found'}; "
            f"jobs run on {target.describe()}",
            file=sys.stderr,
        )
        made = cls(credential)
        made.target = target
        return made

    def begin_create_or_update(self, entity: Any, **kwargs: Any) -> _Done:
        """Compute and other workspace entities: nothing to create here."""
        return self.compute.begin_create_or_update(entity)
