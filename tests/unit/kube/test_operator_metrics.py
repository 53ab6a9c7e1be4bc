"""The operator's metrics: what a ParallelJob tick observes reaches the
collector with the job's namespace, name and step; a scrape shows it."""

import types

from pjob.coord.base import Progress
from pjob.engine import metrics
from pjob.kube import handlers
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def test_observed_counters_are_exposed_per_job(tmp_path):
    collector = metrics.JobMetrics()
    memo = {"metrics": collector}
    task = types.SimpleNamespace(step="score", work_dir=str(tmp_path / "missing"))
    body = {"metadata": {"namespace": "team-a", "name": "words-x1"}}
    handlers.observe_metrics(memo, body, task, Progress(total=10, done=4, failed=1, items_succeeded=40, attempts=6))
    handlers.observe_metrics({}, body, task, Progress())  # no collector: nothing happens
    registry = CollectorRegistry()
    registry.register(collector)
    samples = {
        (x.name, tuple(sorted(x.labels.items()))): x.value
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        for x in f.samples
    }
    job = (("job", "words-x1"), ("namespace", "team-a"))

    def value(name, **extra):
        return samples[(name, tuple(sorted(job + (("step", "score"),) + tuple(extra.items()))))]

    assert value("pjob_mini_batches_total", state="done") == 4 and value("pjob_mini_batches_total", state="failed") == 1
    assert value("pjob_items_total", state="succeeded") == 40 and value("pjob_attempts_total") == 6
    assert value("pjob_mini_batch_duration_seconds_count") == 0
