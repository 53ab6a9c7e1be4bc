"""operator.metrics in the chart: off by default; enabled, the operator runs
with --metrics-port, exposes the port, carries the prometheus.io scrape
annotations, and (optionally) gets a Service in front of it. Rendered by
Helm's own engine; skipped without helm-python-sdk."""

from chart_render import by_kind, diff_paths, objects, render, strict_roundtrip


def _operator(objs):
    (dep,) = by_kind(objs, "Deployment")
    return dep, dep["spec"]["template"]["spec"]["containers"][0]


def test_metrics_off_by_default():
    objs = objects(render())
    dep, container = _operator(objs)
    assert not any(a.startswith("--metrics-port") for a in container["args"])
    assert "prometheus.io/scrape" not in dep["spec"]["template"]["metadata"]["annotations"]
    assert not by_kind(objs, "Service")


def test_metrics_enabled_with_annotations_and_service():
    objs = objects(render({"operator": {"metrics": {"enabled": True, "port": 9102, "service": {"enabled": True}}}}))
    dep, container = _operator(objs)
    assert "--metrics-port=9102" in container["args"]
    assert {"name": "metrics", "containerPort": 9102, "protocol": "TCP"} in container["ports"]
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9102"
    (svc,) = by_kind(objs, "Service")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9102, "targetPort": "metrics", "protocol": "TCP"}]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    plain = {k: v for k, v in svc.items() if not k.startswith("__")}
    assert diff_paths(plain, strict_roundtrip(plain, "V1Service")) == []


def test_metrics_without_annotations():
    objs = objects(render({"operator": {"metrics": {"enabled": True, "podAnnotations": False}}}))
    dep, _ = _operator(objs)
    assert "prometheus.io/scrape" not in dep["spec"]["template"]["metadata"]["annotations"]
