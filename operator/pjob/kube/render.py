"""``pjob operator render``: every object the operator would create for a job
YAML, offline, like ``helm template``: the CR, and its children recursively
(a pipeline's parallel step shows its child ParallelJob and that one's task
and queue ConfigMaps, worker RBAC and Indexed Job). Built by the operator's
own code path (``pjob.kube.jobspec`` + ``pjob.kube.builders``) from the CR
itself, so a CR that renders is one the operator accepts.

UIDs do not exist offline: ownerReferences show a placeholder.
"""

from __future__ import annotations

from typing import Any

from pjob.kube import builders, jobspec
from pjob.kube import constants as c
from pjob.kube.config import OperatorConfig
from pjob.spec import errors, load, yamlio


def children_of(cr: dict[str, Any], config: OperatorConfig, *, check_files: bool = True) -> list[dict[str, Any]]:
    """What the operator creates for ``cr`` (recursively), in creation order.
    A pipeline's children read outputs of steps that have not run yet, so
    their files are not checked here (the operator checks them when it
    creates the child, after its upstream succeeded)."""
    loaded = jobspec.load_cr(cr, config, check_files=check_files)
    if loaded.problems:
        raise errors.UserError(
            [
                errors.Problem(f"{cr['kind']} {cr['metadata']['name']}", None, "", msg)
                for msg in jobspec.problem_messages(loaded)
            ]
        )
    if cr["kind"] == c.PARALLEL_KIND:
        return builders.build_parallel_children(cr, jobspec.parallel_task(cr, loaded, config), config)
    out: list[dict[str, Any]] = []
    for step in jobspec.pipeline_steps(cr, loaded, config):
        out.append(step.child)
        if step.child["kind"] == c.PARALLEL_KIND:
            out.extend(children_of(step.child, config, check_files=False))
    return out


def render(loaded: load.LoadedJob, *, namespace: str, name: str | None, config: OperatorConfig) -> list[dict[str, Any]]:
    cr = builders.build_job_cr(loaded, namespace=namespace, name=name or builders.default_cr_name(loaded))
    return [cr] + children_of(cr, config)


def to_yaml_stream(objects: list[dict[str, Any]]) -> str:
    docs = []
    for obj in objects:
        meta = obj["metadata"]
        docs.append(f"# {obj['kind']} {meta.get('namespace', '')}/{meta['name']}\n" + yamlio.dump_yaml(obj))
    return "---\n" + "---\n".join(docs)
