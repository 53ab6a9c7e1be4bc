"""Kubernetes-backend specifics beyond the shared contract suite, against the
real API server of the test session (tests/cluster): API cost per mini-batch
(issue 5 acceptance), chunked claims and their hand-back, an agent whose Lease
really expired, publishing the plan size, and the objects it creates."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
from pjob.coord import base, kube, kube_shards
from pjob.queue import batching
from pjob.spec import errors

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import coord_kube_api_cost  # noqa: E402  bench/: the agent simulation shared with the benchmark
from realkube.forward import Forwarder  # noqa: E402

NS, JOB = "default", "score"


def ok() -> base.Outcome:
    return base.Outcome(items=1, succeeded=1, failed=0)


def test_api_cost_of_10000_mini_batches_with_4_agents_is_under_target(server):
    r = coord_kube_api_cost.run_agents(server, 10_000, 4, namespace=NS, job=JOB)
    assert r["exitcodes"] == [0, 0, 0, 0]
    p = r["progress"]
    assert (p.done, p.pending, p.leased, p.attempts) == (10_000, 0, 0, 10_000)
    writes = sum(r["writes"].values())
    print(f"API writes: {writes} for 10,000 mini-batches = {writes / 10_000:.4f} each; {r['writes']}")
    assert writes / 10_000 <= 0.05
    assert r["configmap_bytes"] < 2_000  # per-batch state never lands in etcd


def test_random_failures_still_end_with_every_batch_final(server):
    r = coord_kube_api_cost.run_agents(server, 1_000, 3, namespace=NS, job=JOB, fail_rate=0.2)
    p = r["progress"]
    assert r["exitcodes"] == [0, 0, 0]
    assert p.pending == p.leased == 0 and p.done + p.failed == 1_000
    assert p.attempts > 1_000  # retries happened
    assert p.failed < 50  # 0.2 ** 3 of them exhaust 3 attempts


def test_chunked_claim_is_one_write_and_close_hands_back_unstarted_ones(server, api):
    queue = kube.KubeCoordinator(api, NS, JOB, 100, prefetch=16)
    c = batching.Batcher(queue, "a")
    server.clear_requests()
    leases = c.claim("a", 2)
    assert [x.index for x in leases] == [0, 1]
    assert [r.resource for r in server.writes()] == ["leases", "configmaps"]  # heartbeat Lease + one claim
    assert queue.counters().leased == 16
    assert [x.index for x in c.claim("a", 3)] == [2, 3, 4]  # from the reservoir: no API write
    assert len(server.writes()) == 2
    c.complete_many([(x, ok()) for x in leases])
    assert len(server.writes()) == 2  # written behind
    c.close()
    assert len(server.writes()) == 3  # outcomes and hand-backs in one write
    p = queue.counters()
    assert (p.done, p.leased, p.attempts) == (2, 3, 5)  # 11 unstarted ones went back unburnt
    other = kube.KubeCoordinator(api, NS, JOB, prefetch=0)
    assert [(x.index, x.attempt) for x in other.claim("b", 2)] == [(5, 1), (6, 1)]


def test_each_agent_claims_ahead_a_share_of_the_in_flight_budget(server, api):
    assert kube.KubeCoordinator(api, NS, JOB, 10, instances=4).batching.prefetch == 2048
    assert kube.KubeCoordinator(api, NS, JOB, 10, instances=512).batching.prefetch == 32


def test_release_hands_back_the_reservoir_too(server, api):
    c = batching.Batcher(kube.KubeCoordinator(api, NS, JOB, 50, prefetch=10), "a")
    (lease,) = c.claim("a", 1)
    c.release(lease)  # SIGTERM: the agent is stopping
    p = kube.KubeCoordinator(api, NS, JOB).counters()  # a fresh reader sees it at once
    assert (p.pending, p.leased, p.attempts) == (50, 0, 0)


def test_outcome_after_a_real_lease_expiry_is_answered_by_the_api(server, api):
    slow = batching.Batcher(kube.KubeCoordinator(api, NS, JOB, 3, lease_seconds=1, prefetch=0), "slow")
    (lease,) = slow.claim("slow", 1)
    rescuer = batching.Batcher(kube.KubeCoordinator(api, NS, JOB, lease_seconds=1, prefetch=0), "rescuer")
    # expiry is judged on the rescuer's own clock: the Lease (1 s) must stay unrenewed for 1 s after it saw it
    assert rescuer.release_expired(time.time()) == 0
    deadline = time.monotonic() + 30
    while rescuer.release_expired(time.time()) == 0:
        assert time.monotonic() < deadline, "the silent agent's lease never expired"
        time.sleep(0.1)
    (again,) = rescuer.claim("rescuer", 1)
    assert (again.index, again.attempt) == (0, 2)
    assert slow.complete(lease, ok()) is False  # not buffered blindly: the write found it stale
    assert rescuer.complete(again, ok()) is True
    rescuer.flush()
    assert rescuer.counters().done == 1


def test_expiry_check_racing_a_new_agents_first_claim_does_not_expire_it(server, api):
    # CI saw 10,064 attempts for 10,000 mini-batches: a checker read the Leases, then a
    # new agent created its Lease and claimed a chunk, then the checker read the queue and
    # found a holder with no Lease. Leases must be read after the queue.
    checker = kube.KubeCoordinator(api, NS, JOB, 20, prefetch=0)
    newcomer = kube.KubeCoordinator(api, NS, JOB, prefetch=0)
    read_queue = checker._read
    claimed = []

    def newcomer_claims_first():
        if not claimed:
            claimed.extend(newcomer.claim("new", 3))
        return read_queue()

    checker._read = newcomer_claims_first
    assert checker.release_expired(time.time()) == 0
    assert [x.index for x in claimed] == [0, 1, 2]
    p = kube.KubeCoordinator(api, NS, JOB).counters()
    assert (p.leased, p.attempts) == (3, 3)


def test_agents_started_before_the_plan_wait_for_its_size(server, api):
    early = kube.KubeCoordinator(api, NS, JOB)  # the ConfigMap exists, total not yet known
    assert early.claim("a", 5) == []
    assert early.counters().total == 0
    planner = kube.KubeCoordinator(api, NS, JOB, prefetch=0)
    planner.load_plan(4, items=[1, 1, 1, 1])
    assert [x.index for x in early.claim("a", 5)] == [0, 1, 2, 3]
    with pytest.raises(errors.UserError, match="has 4 mini-batches"):
        kube.KubeCoordinator(api, NS, JOB, 5)


def test_objects_are_labelled_owned_and_named_validly(server, api):
    parent = server.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "parent", "namespace": NS}})
    uid = parent["metadata"]["uid"]  # an owner that exists (dangling owners get garbage-collected)
    owner = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": uid, "controller": True}]
    c = kube.KubeCoordinator(api, NS, JOB, 3, owner_references=owner)
    c.claim("Pod/score-0_Agent", 1)
    cm = server.get("v1", "configmaps", kube.queue_name(JOB), NS)
    assert cm["metadata"]["labels"] == {kube.QUEUE_LABEL: JOB}
    assert cm["metadata"]["ownerReferences"][0]["uid"] == uid  # kept across read-modify-writes
    (lease,) = server.list("coordination.k8s.io/v1", "leases", NS)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", lease["metadata"]["name"])
    assert lease["spec"]["holderIdentity"] == "Pod/score-0_Agent"
    assert lease["spec"]["leaseDurationSeconds"] == 30
    assert lease["metadata"]["ownerReferences"][0]["uid"] == cm["metadata"]["uid"]  # deleted with the queue
    assert json.loads(cm["data"]["leased"]) == {"Pod/score-0_Agent": [[0, 1, 1]]}


def test_parse_uri():
    assert kube.parse_uri("kube://jobs/score") == ("jobs", "score")
    with pytest.raises(errors.UserError, match="kube://<namespace>/<job>"):
        kube.parse_uri("kube:/jobs")


def test_a_restarted_agent_with_the_same_name_gives_back_its_old_leases(server, api):
    first_life = kube.KubeCoordinator(api, NS, JOB, 4, prefetch=0)
    first_life.claim("score-0", 2)  # then the container crashes; the pod (and its name) stay
    second_life = kube.KubeCoordinator(api, NS, JOB, prefetch=0)
    got = second_life.claim("score-0", 4)
    assert [(x.index, x.attempt) for x in got] == [(0, 2), (1, 2), (2, 1), (3, 1)]
    assert second_life.counters().leased == 4


def test_plan_size_is_none_until_published(server, api):
    c = kube.KubeCoordinator(api, NS, JOB)
    assert c.plan_size() is None
    c.load_plan(7)
    assert c.plan_size() == 7


def test_close_without_an_api_server_logs_what_it_could_not_write(server, caplog):
    from kubernetes import client as k8s
    from kubernetes import config as kconfig

    config = k8s.Configuration()
    kconfig.load_kube_config(config_file=str(server.kubeconfig_path), client_configuration=config)
    forwarder = Forwarder(config.host)  # the API server, reached through a port that can go away
    config.host, config.retries = forwarder.url, False  # fail fast once the server is gone
    config.tls_server_name = "localhost"
    client = k8s.ApiClient(config)
    try:
        c = batching.Batcher(kube.KubeCoordinator(client, NS, JOB, 3, prefetch=0), "a")
        (lease,) = c.claim("a", 1)
        assert c.complete(lease, ok()) is True  # buffered
        forwarder.stop()
        c.close()  # must not raise out of an agent's shutdown path
    finally:
        client.close()
        forwarder.stop()
    assert "could not write 1 buffered outcome" in caplog.text and "complete 0" in caplog.text


def test_per_mini_batch_facts_go_to_fixed_size_shards(server, api, monkeypatch):
    monkeypatch.setattr(kube_shards, "SHARD_SIZE", 8)
    monkeypatch.setattr(kube_shards, "FOLD_AT", 4)
    monkeypatch.setattr(kube_shards, "MAX_CHANGES", 4)
    c = kube.KubeCoordinator(api, NS, JOB, 40, max_attempts=1, prefetch=0)
    leases = c.claim("a", 40)
    for lease in leases[::3]:
        assert c.fail(lease, "boom", retryable=False) is True
    assert c.complete_many([(x, ok()) for x in leases if x.index % 3]) == [True] * 26  # in writes of 4
    shards = sorted(
        cm["metadata"]["name"] for cm in server.list("v1", "configmaps", NS) if "-queue-" in cm["metadata"]["name"]
    )
    assert shards == [f"{kube.queue_name(JOB)}-{k}" for k in range(5)]  # ceil(40 / 8), whatever failed
    queue = server.get("v1", "configmaps", kube.queue_name(JOB), NS)
    assert len(json.loads(queue["data"]["journal"])) < 4 + 4  # folded: never more than FOLD_AT + one write
    reader = kube.KubeCoordinator(api, NS, JOB)
    p = reader.counters()
    assert (p.done, p.failed, p.pending, p.leased) == (26, 14, 0, 0)
    assert [r.index for r in reader.records("failed")] == list(range(0, 40, 3))
    assert reader.reset_failed() == 14
    assert [x.index for x in reader.claim("b", 3)] == [0, 3, 6]  # pending again, found in the shards
