"""Helpers for the operator tests: start the real `pjob operator run` against
the fake API server, build CRs from job YAMLs with the operator's own
builders, and wait on status with deadlines (no fixed sleeps)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pjob.kube import builders
from pjob.spec import checks

REPO = Path(__file__).resolve().parents[2]
GROUP_VERSION = "pjob.dev/v1alpha1"


def operator_env(kube_env: dict, root: Path, **extra) -> dict:
    return {**kube_env, "PJOB_DATASTORE_ROOT": str(root), "PJOB_OBSERVE_SECONDS": "0.3",
            "PJOB_LEASE_SECONDS": "3", "PJOB_STOP_GRACE_SECONDS": "10", "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in extra.items()}}


def start_operator(start_process, env: dict, *extra: str):
    return start_process([sys.executable, "-m", "pjob.cli", "operator", "run", "--standalone", "-A", *extra],
                         env=env, name="operator")


def wait_operator_watching(wait_for_request) -> None:
    wait_for_request(lambda r: r.verb == "watch" and r.resource == "paralleljobs",
                     timeout=30, message="the operator to watch paralleljobs")
    wait_for_request(lambda r: r.verb == "watch" and r.resource == "pipelinejobs",
                     timeout=30, message="the operator to watch pipelinejobs")


def copy_example(name: str, root: Path) -> Path:
    """An example folder copied onto the datastore (pods see only the datastore)."""
    dest = root / "shipped" / name
    shutil.copytree(REPO / "examples" / name, dest)
    return dest


def cr_for(yaml_path: Path, *, namespace: str = "default", name: str | None = None) -> dict:
    loaded = checks.load_and_check(str(yaml_path))
    return builders.build_job_cr(loaded, namespace=namespace, name=name or builders.default_cr_name(loaded))


def apply_cr(fake_api, cr: dict) -> dict:
    return fake_api.apply(cr)


def get_cr(fake_api, kind_plural: str, name: str, namespace: str = "default") -> dict | None:
    return fake_api.get(GROUP_VERSION, kind_plural, name, namespace)


def wait_status(fake_api, plural: str, name: str, predicate, operator, timeout: float = 60, namespace: str = "default"):
    def check():
        obj = get_cr(fake_api, plural, name, namespace)
        return obj["status"] if obj is not None and predicate(obj.get("status") or {}) else None
    return fake_api.wait_for(check, timeout=timeout,
                             message=f"{plural}/{name} status; last: "
                                     f"{(get_cr(fake_api, plural, name, namespace) or {}).get('status')}\n"
                                     f"operator log:\n{operator.log()[-4000:]}")


def condition(status: dict, type_: str) -> dict | None:
    return next((x for x in status.get("conditions") or [] if x["type"] == type_), None)


def owned_by(obj: dict, owner: dict) -> bool:
    return any(ref["uid"] == owner["metadata"]["uid"] and ref.get("controller")
               for ref in obj["metadata"].get("ownerReferences") or [])


def children(fake_api, owner: dict, namespace: str = "default") -> list[dict]:
    out = []
    for api_version, plural in (("v1", "configmaps"), ("v1", "serviceaccounts"), ("rbac.authorization.k8s.io/v1", "roles"),
                                ("rbac.authorization.k8s.io/v1", "rolebindings"), ("batch/v1", "jobs"),
                                ("v1", "pods"), ("coordination.k8s.io/v1", "leases"), (GROUP_VERSION, "paralleljobs")):
        out += [o for o in fake_api.list(api_version, plural, namespace) if owned_by(o, owner)]
    return out


def env_path_ok() -> bool:
    return bool(os.environ.get("PATH"))
