"""Generate the ``ParallelJob`` and ``PipelineJob`` CRDs from the pydantic
models, so the cluster's schema and our validation never drift (a test
compares ``crds/`` with a fresh generation).

Rules (after azimuth-cloud's kube-custom-resource): refs inlined, no titles,
``nullable: true`` for Optional, free-form dicts and value unions keep unknown
fields, defaults applied by the models rather than written into the schema.
``pjob crds [--output DIR]`` writes ``DIR/<plural>.pjob.dev.yaml``.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, Field

from pjob.spec import models, yamlio

GROUP = "pjob.dev"
VERSION = "v1alpha1"
# A started job runs the spec it was created with: the API server refuses spec edits (a CEL transition rule).
IMMUTABLE_SPEC_RULE = "self == oldSelf"
IMMUTABLE_SPEC_MESSAGE = (
    "spec is immutable: a {kind} runs the spec it was created with; to change it, delete the "
    "{kind} and create it again (kubectl delete {short} NAME, then pjob submit or kubectl create)"
)


class Condition(BaseModel):
    """A status condition (Kubernetes convention)."""

    type: str = Field(..., description="SpecValid, Running, Succeeded or Failed.")
    status: str = Field(..., description="True, False or Unknown.")
    reason: str | None = Field(None, description="CamelCase reason.")
    message: str | None = Field(None, description="Human explanation.")
    lastTransitionTime: str | None = Field(None, description="When status last changed.")
    observedGeneration: int | None = Field(None, description="metadata.generation this condition was set for.")


class Counts(BaseModel):
    """Mini-batch counters."""

    total: int = Field(0, description="Mini-batches planned.")
    done: int = Field(0, description="Mini-batches finished.")
    failed: int = Field(0, description="Mini-batches failed for good.")


class ItemCounts(BaseModel):
    """Item (file or row) counters."""

    succeeded: int = Field(0, description="Items run() returned a result for.")
    failed: int = Field(0, description="Items without a result.")


class StepStatus(BaseModel):
    """State of one pipeline step."""

    state: str = Field(..., description="Pending, Running, Succeeded, Failed or Skipped.")
    kind: str | None = Field(None, description="parallel or command.")
    child: str | None = Field(None, description="Name of the child ParallelJob or Job.")
    message: str | None = Field(None, description="Why, when failed.")


class JobStatus(BaseModel):
    """Observed state, written by the operator."""

    state: str | None = Field(None, description="Pending, Running, Succeeded or Failed (summary of conditions).")
    progress: str | None = Field(None, description="done/total mini-batches.")
    conditions: list[Condition] | None = Field(None, description="SpecValid, Running, Succeeded, Failed.")
    miniBatches: Counts | None = Field(None, description="Mini-batch counters.")
    items: ItemCounts | None = Field(None, description="Item counters.")
    steps: dict[str, StepStatus] | None = Field(None, description="Pipeline steps by name.")
    outputs: dict[str, str] | None = Field(None, description="Output name -> location on the datastore.")
    logs: str | None = Field(None, description="Location of the job's log tree on the datastore.")
    startTime: str | None = Field(None, description="When the job started running.")
    completionTime: str | None = Field(None, description="When the job reached Succeeded or Failed.")
    observedGeneration: int | None = Field(None, description="metadata.generation last reconciled.")


def _structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _structural(defs[schema["$ref"].split("/")[-1]], defs) | (
            {"description": schema["description"]} if "description" in schema else {}
        )
    desc = {"description": schema["description"]} if schema.get("description") else {}
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            nullable = len(options) < len(schema[key])
            if len(options) == 1:
                one = _structural(options[0], defs) | desc | {k: schema[k] for k in ("pattern",) if k in schema}
            else:  # a value union (literal or mapping): kept as given, checked by pjob
                one = desc | {"x-kubernetes-preserve-unknown-fields": True}
            return one | ({"nullable": True} if nullable else {})
    kind = schema.get("type")
    out: dict[str, Any] = dict(desc)
    if kind == "object" or "properties" in schema:
        out["type"] = "object"
        if "properties" in schema:
            out["properties"] = {
                name: _structural(prop, defs) for name, prop in schema["properties"].items() if not name.startswith("$")
            }
            if schema.get("required"):
                out["required"] = [r for r in schema["required"] if not r.startswith("$")]
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = _structural(extra, defs)
        elif "properties" not in schema:
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out
    if kind == "array":
        return out | {"type": "array", "items": _structural(schema.get("items", {}), defs)}
    if kind in ("string", "integer", "number", "boolean"):
        out["type"] = kind
        for key in ("enum", "minimum", "maximum", "pattern"):
            if key in schema:
                out[key] = schema[key]
        if "const" in schema:
            out["enum"] = [schema["const"]]
        for key, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if key in schema:
                out[base], out[key] = schema[key], True
        return out
    if "const" in schema:
        return out | {"type": "string", "enum": [schema["const"]]}
    if "enum" in schema:
        return out | {"type": "string", "enum": schema["enum"]}
    return out | {"x-kubernetes-preserve-unknown-fields": True}


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(mode="validation")
    schema = _structural(raw, raw.get("$defs", {}))
    size = schema.get("properties", {}).get("mini_batch_size")
    if size is not None:  # Azure YAML writes both mini_batch_size: 10 and "10kb"
        schema["properties"]["mini_batch_size"] = {
            "description": size["description"],
            "x-kubernetes-int-or-string": True,
            # exactly the anyOf structural schemas allow; pattern applies to strings, minimum to integers
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": size["pattern"],
            "minimum": 1,
            "nullable": True,
        }
    return schema


def _pipeline_spec_schema() -> dict[str, Any]:
    schema = openapi_schema(models.PipelineJob)
    step_desc = "A step: type parallel (a ParallelJob spec) or type command."
    schema["properties"]["jobs"]["additionalProperties"] = {
        "type": "object",
        "description": step_desc,
        "required": ["type"],
        "properties": {"type": {"type": "string", "enum": ["parallel", "command"]}},
        "x-kubernetes-preserve-unknown-fields": True,
    }
    return schema


def build_crd(kind: str) -> dict[str, Any]:
    plural, short = {"ParallelJob": ("paralleljobs", "pj"), "PipelineJob": ("pipelinejobs", "plj")}[kind]
    spec = openapi_schema(models.ParallelStep) if kind == "ParallelJob" else _pipeline_spec_schema()
    spec["description"] = (
        "The Azure ML job body (what follows type: parallel in a pipeline YAML)."
        if kind == "ParallelJob"
        else "The Azure ML pipeline job body (type: pipeline YAML without $schema)."
    )
    spec["x-kubernetes-validations"] = [
        {"rule": IMMUTABLE_SPEC_RULE, "message": IMMUTABLE_SPEC_MESSAGE.format(kind=kind, short=short)}
    ]
    status = openapi_schema(JobStatus) | {"x-kubernetes-preserve-unknown-fields": True}
    columns = [
        {
            "name": "Status",
            "type": "string",
            "jsonPath": ".status.state",
            "description": "Pending, Running, Succeeded or Failed",
        },
        {
            "name": "Progress",
            "type": "string",
            "jsonPath": ".status.progress",
            "description": "done/total mini-batches",
        },
        {
            "name": "Failed",
            "type": "integer",
            "jsonPath": ".status.miniBatches.failed",
            "description": "failed mini-batches",
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {
            "name": "Message",
            "type": "string",
            "priority": 1,
            "jsonPath": '.status.conditions[?(@.status=="True")].message',
        },
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["pjob"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": f"{kind}: an Azure ML-compatible {'parallel' if kind == 'ParallelJob' else 'pipeline'} job run by pjob.",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                            "required": ["spec"],
                        }
                    },
                }
            ],
        },
    }


def render_all() -> dict[str, str]:
    """file name -> YAML text of every CRD."""
    out = {}
    for kind in ("ParallelJob", "PipelineJob"):
        crd = build_crd(kind)
        out[f"{crd['metadata']['name']}.yaml"] = (
            "# Generated by `pjob crds` from pjob.spec models. Do not edit.\n" + yamlio.dump_yaml(crd)
        )
    return out


def add_arguments(parser) -> None:
    parser.add_argument("--output", "-o", default="crds", help="folder to write the CRD files into (default: crds)")


def main(args) -> int:
    os.makedirs(args.output, exist_ok=True)
    for name, text in render_all().items():
        path = os.path.join(args.output, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(path)
    return 0
