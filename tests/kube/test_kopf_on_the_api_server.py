"""The real kopf operator (a subprocess: `kopf run --standalone -A`) works against the real API server:
it scans discovery, lists and watches cluster-wide, patches status via the subresource, posts Events,
and uses finalizers so on.delete handlers run before the object goes away."""

from __future__ import annotations

import sys
import textwrap

import kubernetes.client as k8s

HANDLERS = textwrap.dedent("""
    import os, pathlib
    import kopf

    @kopf.on.startup()
    def configure(settings, **_):
        settings.watching.server_timeout = 5  # exercise watch reconnects from a resourceVersion too

    @kopf.on.create("pjob.dev", "v1alpha1", "paralleljobs")
    def on_create(body, spec, patch, **_):
        patch.status["state"] = "Running"
        patch.status["progress"] = f"0/{spec['tags']['n']}"
        kopf.info(body, reason="Observed", message="seen by kopf")

    @kopf.on.delete("pjob.dev", "v1alpha1", "paralleljobs")
    def on_delete(name, namespace, **_):
        pathlib.Path(os.environ["DELETED_DIR"], f"{namespace}.{name}").write_text("deleted")
""")

FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


def test_kopf_operator_observes_creates_patches_status_and_finalizes(
    kube_api, kube_client, apply_crds, start_process, kube_env, wait_for_request, tmp_path
):
    apply_crds()
    handlers = tmp_path / "handlers.py"
    handlers.write_text(HANDLERS)
    deleted_dir = tmp_path / "deleted"
    deleted_dir.mkdir()
    operator = start_process(
        [sys.executable, "-m", "kopf", "run", "--standalone", "-A", "--verbose", str(handlers)],
        env={**kube_env, "DELETED_DIR": str(deleted_dir)},
        name="kopf",
    )
    wait_for_request(
        lambda r: r.verb == "watch" and r.resource == "paralleljobs" and not r.namespace,
        message="kopf to watch paralleljobs cluster-wide",
    )

    k8s.CoreV1Api(kube_client).create_namespace({"metadata": {"name": "team-a"}})
    custom = k8s.CustomObjectsApi(kube_client)
    custom.create_namespaced_custom_object(
        "pjob.dev",
        "v1alpha1",
        "team-a",
        "paralleljobs",
        {
            "apiVersion": "pjob.dev/v1alpha1",
            "kind": "ParallelJob",
            "metadata": {"name": "pj1"},
            "spec": {
                "input_data": "${{inputs.data}}",
                "task": {"entry_script": "score.py"},
                "display_name": "hello",
                "tags": {"n": 3},
                "undeclared": "pruned by the schema",
            },
        },
    )

    def handled():
        obj = kube_api.get("pjob.dev/v1alpha1", "paralleljobs", "pj1", "team-a")
        return obj if (obj.get("status") or {}).get("state") == "Running" else None

    obj = kube_api.wait_for(handled, timeout=20, message=f"kopf to set status; kopf log:\n{operator.log()}")
    assert obj["status"]["progress"] == "0/3"
    assert "undeclared" not in obj["spec"]
    assert FINALIZER in obj["metadata"]["finalizers"]
    status_patches = [r for r in kube_api.writes("paralleljobs") if r.subresource == "status"]
    assert status_patches and all(r.verb == "patch" and "kopf" in r.user_agent for r in status_patches)
    event = kube_api.wait_for(
        lambda: next((e for e in kube_api.list("v1", "events", "team-a") if e.get("reason") == "Observed"), None),
        timeout=20,
        message="kopf to post the Observed event",
    )
    assert event["involvedObject"]["name"] == "pj1" and event["message"] == "seen by kopf"

    custom.delete_namespaced_custom_object("pjob.dev", "v1alpha1", "team-a", "paralleljobs", "pj1")
    kube_api.wait_for(
        lambda: kube_api.get("pjob.dev/v1alpha1", "paralleljobs", "pj1", "team-a") is None,
        timeout=20,
        message=f"kopf to release its finalizer; kopf log:\n{operator.log()}",
    )
    assert (deleted_dir / "team-a.pj1").read_text() == "deleted"
    assert operator.popen.poll() is None, operator.log()
    assert "Traceback" not in operator.log()
