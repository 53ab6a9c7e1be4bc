"""The step DAG of a loaded pipeline: each step's declared inputs and
outputs (``step_io``), which steps it reads outputs of (``dependencies``),
and the order to run them in (``run_order``, naming a cycle). Part of
``pjob.spec.checks``, which re-exports these names.
"""

from __future__ import annotations

from pjob.spec import bindings, load, models


def step_io(loaded: load.LoadedJob, name: str) -> tuple[dict, dict]:
    """(inputs, outputs) declared for a step: its own, or its component's."""
    assert loaded.job is not None  # a job that loaded
    step = loaded.job.jobs[name]
    comp = loaded.components.get(name)
    if comp:
        return {**comp.model.inputs, **step.inputs}, {**comp.model.outputs, **step.outputs}
    return step.inputs, step.outputs


def dependencies(loaded: load.LoadedJob) -> dict[str, list[str]]:
    """step -> steps it reads outputs of (from ${{parent.jobs.X.outputs.Y}})."""
    deps: dict[str, list[str]] = {}
    assert loaded.job is not None  # a job that loaded
    for name, step in loaded.job.jobs.items():
        found: list[str] = []
        for value in step.inputs.values():
            text = value.path if isinstance(value, models.DataInput) else value
            try:
                for ref in bindings.refs(text):
                    if ref.scope == "parent.jobs" and ref.step not in found:
                        found.append(ref.step)
            except bindings.BindingError:
                pass
        deps[name] = found
    return deps


def run_order(loaded: load.LoadedJob) -> list[str]:
    """Steps in dependency order (declaration order among ready steps).
    Raises ValueError naming a cycle."""
    assert loaded.job is not None  # a job that loaded
    deps = {k: [d for d in v if d in loaded.job.jobs] for k, v in dependencies(loaded).items()}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(deps):
        ready = [s for s in deps if s not in done and all(d in done for d in deps[s])]
        if not ready:
            left = [s for s in deps if s not in done]
            raise ValueError(_cycle(deps, left))
        order.append(ready[0])
        done.add(ready[0])
    return order


def _cycle(deps: dict[str, list[str]], left: list[str]) -> str:
    start = left[0]
    path = [start]
    while True:
        nxt = next(d for d in deps[path[-1]] if d in left)
        if nxt in path:
            loop = path[path.index(nxt) :] + [nxt]
            return "dependency cycle " + " -> ".join(loop) + "; remove one of these ${{parent.jobs...}} bindings"
        path.append(nxt)
