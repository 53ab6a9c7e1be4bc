"""Helpers for the operator tests: start the real `pjob operator run` against
the real API server (with the token of the chart's operator ServiceAccount), build CRs from job YAMLs with the operator's own
builders, and wait on status with deadlines (no fixed sleeps)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pjob.kube import builders
from pjob.spec import checks

REPO = Path(__file__).resolve().parents[2]
GROUP_VERSION = "pjob.dev/v1alpha1"


def operator_env(kube_env: dict, root: Path, **extra) -> dict:
    """The operator's environment: the chart's ServiceAccount token as its kubeconfig (so the chart's
    RBAC is what is tested), the datastore folder, short test timings."""
    return {
        **kube_env,
        "KUBECONFIG": kube_env["PJOB_TEST_OPERATOR_KUBECONFIG"],
        "PJOB_DATASTORE_ROOT": str(root),
        "PJOB_OBSERVE_SECONDS": "0.3",
        "PJOB_LEASE_SECONDS": "8",
        "PJOB_STOP_GRACE_SECONDS": "10",
        "PYTHONUNBUFFERED": "1",
        **{k: str(v) for k, v in extra.items()},
    }


# the operator runs in its own mount namespace with an empty read-only tmpfs over the datastore
# folder: like the chart's operator Deployment, it has no datastore; anything it read or wrote there
# (instead of the pods) would fail the test
NO_DATASTORE = (
    'mkdir -p "$PJOB_DATASTORE_ROOT" && '
    'mount -t tmpfs -o ro,size=4k pjob-operator-has-no-datastore "$PJOB_DATASTORE_ROOT" && exec "$@"'
)


def without_datastore(argv: list[str], env: dict) -> list[str]:
    """``argv`` run where ``$PJOB_DATASTORE_ROOT`` is an empty read-only folder."""
    if not env.get("PJOB_DATASTORE_ROOT"):
        return argv
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", NO_DATASTORE, "sh", *argv]


def assert_operator_has_no_datastore(operator, root: Path) -> None:
    """The operator process sees an empty read-only tmpfs where the datastore is (``without_datastore``)."""
    import time

    deadline = time.monotonic() + 20
    mounts = ""
    while time.monotonic() < deadline and operator.popen.poll() is None:
        argv0 = Path(f"/proc/{operator.popen.pid}/cmdline").read_bytes().split(b"\0")[0]
        if argv0 == sys.executable.encode():  # past unshare, sh and mount: exec'd into the operator
            mounts = Path(f"/proc/{operator.popen.pid}/mountinfo").read_text()
            break
        time.sleep(0.1)
    hidden = [line for line in mounts.splitlines() if line.split()[4] == str(root) and " - tmpfs " in line]
    assert hidden and " ro" in hidden[-1], f"the operator can see the datastore {root}:\n{mounts}"


def start_operator(start_process, env: dict, *extra: str):
    """`pjob operator run`, cluster-wide unless ``extra`` names namespaces; without the datastore."""
    scope = [] if any(a.startswith(("-n", "--namespace")) for a in extra) else ["-A"]
    argv = [sys.executable, "-m", "pjob.cli", "operator", "run", "--standalone", *scope, *extra]
    return start_process(without_datastore(argv, env), env=env, name="operator")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_operator_watching(wait_for_request) -> None:
    wait_for_request(
        lambda r: r.verb == "watch" and r.resource == "paralleljobs",
        timeout=30,
        message="the operator to watch paralleljobs",
    )
    wait_for_request(
        lambda r: r.verb == "watch" and r.resource == "pipelinejobs",
        timeout=30,
        message="the operator to watch pipelinejobs",
    )


def copy_example(name: str, root: Path) -> Path:
    """An example folder copied onto the datastore (pods see only the datastore)."""
    dest = root / "shipped" / name
    shutil.copytree(REPO / "examples" / name, dest)
    return dest


def cr_for(yaml_path: Path, *, namespace: str = "default", name: str | None = None) -> dict:
    loaded = checks.load_and_check(str(yaml_path))
    return builders.build_job_cr(loaded, namespace=namespace, name=name or builders.default_cr_name(loaded))


def apply_cr(kube_api, cr: dict) -> dict:
    return kube_api.apply(cr)


def get_cr(kube_api, kind_plural: str, name: str, namespace: str = "default") -> dict | None:
    return kube_api.get(GROUP_VERSION, kind_plural, name, namespace)


def wait_status(kube_api, plural: str, name: str, predicate, operator, timeout: float = 60, namespace: str = "default"):
    def check():
        obj = get_cr(kube_api, plural, name, namespace)
        return obj["status"] if obj is not None and predicate(obj.get("status") or {}) else None

    return kube_api.wait_for(
        check,
        timeout=timeout,
        message=f"{plural}/{name} status; last: "
        f"{(get_cr(kube_api, plural, name, namespace) or {}).get('status')}\n"
        f"operator log:\n{operator.log()[-4000:]}",
    )


def condition(status: dict, type_: str) -> dict | None:
    return next((x for x in status.get("conditions") or [] if x["type"] == type_), None)


def owned_by(obj: dict, owner: dict) -> bool:
    return any(
        ref["uid"] == owner["metadata"]["uid"] and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def children(kube_api, owner: dict, namespace: str = "default") -> list[dict]:
    out = []
    for api_version, plural, kind in (
        ("v1", "configmaps", "ConfigMap"),
        ("v1", "serviceaccounts", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "roles", "Role"),
        ("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
        ("batch/v1", "jobs", "Job"),
        ("v1", "pods", "Pod"),
        ("coordination.k8s.io/v1", "leases", "Lease"),
        (GROUP_VERSION, "paralleljobs", "ParallelJob"),
    ):
        # a real list answers items without kind/apiVersion
        out += [dict(o, kind=kind) for o in kube_api.list(api_version, plural, namespace) if owned_by(o, owner)]
    return out


TEST_IMAGE = "pjob-test:dev"


def write_operator_config(root: Path, path: Path, *, extra_env: list | None = None, **worker_settings) -> Path:
    """Worker pods for the stand-in kubelet: scratch mounts outside the datastore
    path (the kubelet rewrites mount paths in env and args), the datastore
    claim mounted at the same host path the operator uses. ``extra_env`` and
    ``worker_settings`` (e.g. gpu=..., pipFromCondaFile=...) add to the worker part."""
    import json

    config = {
        "datastores": {
            "default": "default",
            "items": {"default": {"type": "pvc", "claimName": "pjob-datastore", "mountPath": str(root)}},
        },
        "worker": {
            "image": TEST_IMAGE,
            "workDir": "/scratch/home",
            "env": [
                {"name": "HOME", "value": "/scratch/home"},
                {"name": "TMPDIR", "value": "/scratch/tmp"},
                {"name": "PYTHONUNBUFFERED", "value": "1"},
            ],
            "volumes": [
                {"name": "tmp", "emptyDir": {}},
                {"name": "work", "emptyDir": {}},
                {"name": "datastore", "persistentVolumeClaim": {"claimName": "pjob-datastore"}},
            ],
            "volumeMounts": [
                {"name": "tmp", "mountPath": "/scratch/tmp"},
                {"name": "work", "mountPath": "/scratch/home"},
                {"name": "datastore", "mountPath": str(root)},
            ],
            "terminationGracePeriodSeconds": 10,
        },
    }
    config["worker"]["env"] += extra_env or []
    config["worker"].update(worker_settings)
    path.write_text(json.dumps(config))
    return path


def prepare_cluster(kube_api, apply_crds, kube_env, tmp_path: Path, write_config=None) -> tuple[Path, dict]:
    """CRDs applied, a datastore folder bound to the claim the pods mount, the operator config
    written: returns (datastore root, the operator's environment)."""
    apply_crds()
    root = tmp_path / "ds"
    cluster(kube_api, root)
    config = (write_config or write_operator_config)(root, tmp_path / "operator-config.json")
    return root, operator_env(kube_env, root, PJOB_CONFIG_FILE=config)


def cluster(kube_api, root: Path, namespace: str | None = None) -> None:
    """The datastore folder as the `pjob-datastore` claim (a hostPath PersistentVolume bound to it)."""
    root.mkdir(parents=True, exist_ok=True)
    kube_api.bind_claim("pjob-datastore", root, namespace)


def write_parallel_yaml(example: Path, instances: int = 2, extra: str = "") -> Path:
    """The file-processing example's step as a top-level `type: parallel` job."""
    path = example / "parallel.yml"
    path.write_text(f"""\
type: parallel
name: words
inputs:
  docs: {{type: uri_folder, path: ./docs}}
outputs:
  counts: {{type: uri_folder}}
input_data: ${{{{inputs.docs}}}}
mini_batch_size: "4"
max_concurrency_per_instance: 2
resources: {{instance_count: {instances}}}
retry_settings: {{max_retries: 1, timeout: 30}}
{extra}task:
  type: run_function
  code: ./code
  entry_script: count_words.py
  append_row_to: ${{{{outputs.counts}}}}
""")
    return path


def run_local(yaml_path: Path, runs_dir: Path):
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "pjob.cli", "run", str(yaml_path), "--runs-dir", str(runs_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


SLOW_SCRIPT = '''\
"""count_words, slowed down so a test can act while the job runs."""
import os
import time


def init():
    pass


def run(mini_batch, mini_batch_context):
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0.3")))
    out = []
    for path in mini_batch:
        with open(path, encoding="utf-8") as fh:
            out.append(f"{os.path.basename(path)} {len(fh.read().split())}")
    return out
'''


def write_slow_yaml(
    example: Path, *, instances: int = 2, size: int = 1, seconds: float = 0.3, max_retries: int = 1, extra: str = ""
) -> Path:
    """40 one-file mini-batches, one worker per instance, each run() sleeping."""
    (example / "code" / "slow_count.py").write_text(SLOW_SCRIPT)
    path = example / "slow.yml"
    path.write_text(f"""\
type: parallel
name: slow
inputs:
  docs: {{type: uri_folder, path: ./docs}}
outputs:
  counts: {{type: uri_folder}}
input_data: ${{{{inputs.docs}}}}
mini_batch_size: "{size}"
max_concurrency_per_instance: 1
resources: {{instance_count: {instances}}}
retry_settings: {{max_retries: {max_retries}, timeout: 30}}
environment_variables: {{SLOW_SECONDS: "{seconds}"}}
{extra}task:
  type: run_function
  code: ./code
  entry_script: slow_count.py
  append_row_to: ${{{{outputs.counts}}}}
""")
    return path


def expected_counts(docs: Path) -> bytes:
    """What count_words writes for a folder, in mini-batch (sorted path) order."""
    lines = [f"{p.name} {len(p.read_text(encoding='utf-8').split())}\n" for p in sorted(docs.iterdir())]
    return "".join(lines).encode()


def worker_pods(kube_api, job: str, namespace: str = "default") -> list[dict]:
    """The worker pods of ParallelJob ``job`` (not its finaliser's pod)."""
    return [
        p
        for p in kube_api.list("v1", "pods", namespace)
        if (p["metadata"].get("labels") or {}).get("pjob.dev/job") == job
        and p["metadata"]["labels"].get("pjob.dev/role") == "worker"
    ]


def finaliser_ran(kube_api, job: str, namespace: str = "default", timeout: float = 30) -> bool:
    """The job's finaliser Job (``pjob.kube.finaliser_job``) completes (its pod exits just
    after writing the result the operator marks the job terminal on)."""

    def complete():
        found = kube_api.get("batch/v1", "jobs", f"{job}-finalise", namespace)
        conditions = ((found or {}).get("status") or {}).get("conditions") or []
        return any(x["type"] == "Complete" and x["status"] == "True" for x in conditions)

    return kube_api.wait_for(complete, timeout=timeout, message=f"finaliser Job {job}-finalise to complete")


def api_calls(kube_api, user_agent_part: str) -> set[tuple[str, str, str]]:
    """(group, resource[/subresource], verb) of every request a client made (discovery excluded)."""
    out = set()
    for r in kube_api.requests:
        if user_agent_part in r.user_agent and r.resource:
            out.add((r.group, r.resource + (f"/{r.subresource}" if r.subresource else ""), r.verb))
    return out


def assert_rbac_covers(kube_api) -> None:
    """Every call the operator (kopf + pjob-operator) and the agents made is in pjob.kube.rbac."""
    from pjob.kube import rbac

    def granted(needs):
        return {(n.group, n.resource, verb) for n in needs for verb in n.verbs}

    operator = api_calls(kube_api, "pjob-operator") | api_calls(kube_api, "kopf")
    agents = api_calls(kube_api, "pjob-agent")
    assert operator and agents
    missing_operator = operator - granted(rbac.OPERATOR)
    missing_agents = agents - granted(rbac.WORKER)
    assert missing_operator == set(), f"operator calls missing from pjob.kube.rbac.OPERATOR: {sorted(missing_operator)}"
    assert missing_agents == set(), f"agent calls missing from pjob.kube.rbac.WORKER: {sorted(missing_agents)}"


def publish_agent_task(kube_api, folder: Path, job: str, files: dict[str, str]):
    """A task for `pjob agent` run without an operator: ``files`` in ``folder/docs`` (one per
    mini-batch), the step folder ``folder/run/steps/s``, published as ConfigMap ``<job>-task``.
    Returns (task, step folder)."""
    from folder_task import folder_task

    task = folder_task(folder, files, job=job)
    run = folder / "run" / "steps" / "s"
    kube_api.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{job}-task"},
            "data": {"task.json": task.to_json()},
        }
    )
    return task, run
