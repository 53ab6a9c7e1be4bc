"""Turn the CRDs in crds/ into JSON Schema files that kubeconform reads, and
that the deploy tests validate rendered custom resources with.

    python tests/unit/deploy/crd_jsonschema.py crds build/schemas
    kubeconform -strict -schema-location default \\
        -schema-location 'build/schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json' FILE...

Run by .github/workflows/ci.yml (job "chart") and imported by
tests/unit/deploy/test_rendered_manifests.py. Conversion (as kubeconform's
openapi2jsonschema does): ``nullable: true`` adds "null" to the type,
``x-kubernetes-int-or-string`` becomes string-or-integer, and objects with
declared properties and no ``x-kubernetes-preserve-unknown-fields`` reject
unknown fields (what the API server's pruning would silently drop).
"""

from __future__ import annotations

import copy
import json
import pathlib
import sys
from typing import Any

import yaml


def to_jsonschema(node: Any) -> Any:
    """One OpenAPI v3 (structural) schema node -> JSON Schema. Recurses only
    where schemas live (properties, items, additionalProperties, *Of, not),
    so a field that happens to be named "properties" stays a field."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: to_jsonschema(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = to_jsonschema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_jsonschema(sub) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
    if (
        out.get("properties")
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'<group>/<kind lowercased>_<version>.json' -> JSON Schema, per served version."""
    spec = crd["spec"]
    kind = spec["names"]["kind"]
    result = {}
    for version in spec["versions"]:
        schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
        props = schema.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
        props["metadata"]["x-kubernetes-preserve-unknown-fields"] = (
            True  # ObjectMeta is checked by the API server, not here
        )
        converted = to_jsonschema(schema)
        converted["properties"]["apiVersion"] = {"enum": [f"{spec['group']}/{version['name']}"]}
        converted["properties"]["kind"] = {"enum": [kind]}
        converted["required"] = sorted({*converted.get("required", []), "apiVersion", "kind", "metadata"})
        result[f"{spec['group']}/{kind.lower()}_{version['name']}.json"] = converted
    return result


def convert(crd_dir: pathlib.Path, out_dir: pathlib.Path) -> list[pathlib.Path]:
    written = []
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            for rel, schema in crd_schemas(doc).items():
                target = out_dir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=1, sort_keys=True))
                written.append(target)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: crd_jsonschema.py CRD_DIR OUT_DIR", file=sys.stderr)
        return 2
    for path in convert(pathlib.Path(argv[0]), pathlib.Path(argv[1])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
