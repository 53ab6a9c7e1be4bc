"""Pure parts of the Kubernetes coordinator: IndexRanges and IndexBitmap against a set model,
QueueState encode/decode round trips and transitions, and the size of the
queue ConfigMap staying bounded whatever the input size."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pjob.coord import base, kube_encoding, kube_state
from pjob.coord import kube_shards as shards
from pjob.coord.bitmap import IndexBitmap
from pjob.coord.ranges import IndexRanges

ops = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "range"]), st.integers(0, 60), st.integers(0, 8)), max_size=80
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_index_ranges_behave_like_a_set(script):
    ranges, model = IndexRanges(), set()
    for op, i, width in script:
        if op == "add":
            ranges.add(i)
            model.add(i)
        elif op == "range":
            ranges.add_range(i, i + width)
            model.update(range(i, i + width))
        else:
            assert ranges.remove(i) == (i in model)
            model.discard(i)
        assert list(ranges) == sorted(model)
        assert len(ranges) == len(model)
        pairs = ranges.pairs()
        assert all(s < e for s, e in pairs)
        assert all(a[1] < b[0] for a, b in zip(pairs, pairs[1:]))  # disjoint and never touching
    assert all((i in ranges) == (i in model) for i in range(70))
    assert IndexRanges(ranges.pairs()) == ranges


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 100)), max_size=80))
def test_index_bitmap_behaves_like_a_set(script):
    bits, model = IndexBitmap(), set()
    for add, i in script:
        if add:
            bits.add(i)
            model.add(i)
        else:
            assert bits.discard(i) == (i in model)
            model.discard(i)
        assert list(bits) == sorted(model) and len(bits) == len(model)
    again = IndexBitmap.decode(bits.encode())
    assert again == bits and list(again) == sorted(model) and len(again) == len(model)
    assert bits.lowest(3) == sorted(model)[:3]


def test_state_round_trips_through_configmap_data():
    s = kube_state.QueueState(total=100, max_attempts=3)
    s.claim("a", 10)
    s.claim("b", 5)
    s.complete("a", 0, 1, base.Outcome(3, 3, 0), now=5.0)
    s.fail("a", 1, 1, "boom", True, 2, now=6.0)
    s.fail("b", 10, 1, "bad", False, 2, now=7.0)
    s.release("b", 11, 1)
    data = s.encode()
    assert all(isinstance(v, str) for v in data.values())
    again = kube_state.QueueState.decode(data)
    assert again.encode() == data
    assert again.progress() == s.progress()
    assert again.leased["a"] == {i: 1 for i in range(2, 10)}
    assert again.pending == {1: 1} and list(again.with_code(shards.FRESH)) == [11]  # sent back: attempts used / none
    assert list(again.with_code(shards.FAILED)) == [10]
    assert json.loads(data["leased"]) == {"a": [[2, 10, 1]], "b": [[12, 15, 1]]}


def test_older_run_length_encoding_still_decodes():
    old = {
        "total": "20",
        "maxAttempts": "3",
        "cursor": "10",
        "pending": "[[1,1],[2,0]]",
        "leased": "{}",
        "done": "[[0,1],[3,8]]",
        "failed": "[[8,10]]",
        "failedInfo": "{}",
        "counters": "{}",
    }
    s = kube_state.QueueState.decode(old)
    assert s.pending == {1: 1} and list(s.with_code(shards.FRESH)) == [2]
    assert list(s.with_code(shards.FAILED)) == [8, 9]
    p = s.progress()
    assert (p.pending, p.done, p.failed) == (12, 6, 2)


def test_total_unknown_until_published_claims_nothing():
    s = kube_state.QueueState.decode(kube_state.QueueState(total=None, max_attempts=2).encode())
    assert s.total is None and s.claim("a", 5) == []
    s.total = 3
    assert s.claim("a", 5) == [(0, 1), (1, 1), (2, 1)]


def test_expire_agent_burns_attempts_and_fails_exhausted_ones():
    s = kube_state.QueueState(total=3, max_attempts=2)
    s.claim("a", 3)
    s.expire_agent("a", lambda i: 4, now=1.0)
    assert s.pending == {0: 1, 1: 1, 2: 1}
    assert s.claim("b", 3) == [(0, 2), (1, 2), (2, 2)]
    assert s.expire_agent("b", lambda i: 4, now=2.0) == 3
    p = s.progress()
    assert (p.failed, p.items_failed, p.pending) == (3, 12, 0)
    assert all("expired" in r.error for r in s.records("failed"))


def test_configmap_stays_small_for_a_big_input():
    total, rng = 100_000, random.Random(7)
    s = kube_state.QueueState(total=total, max_attempts=3)
    agents = [f"agent-{i}" for i in range(8)]
    while True:
        got = [(a, lease) for a in agents for lease in s.claim(a, 64)]
        if not got:
            break
        rng.shuffle(got)  # completions arrive in any order
        for agent, (index, attempt) in got:
            if rng.random() < 0.01:
                s.fail(agent, index, attempt, "x" * 5000, retryable=False, items=1, now=0.0)
            else:
                s.complete(agent, index, attempt, base.Outcome(1, 1, 0), now=0.0)
    size = len(json.dumps(s.encode()))
    p = s.progress()
    assert p.done + p.failed == total and p.leased == 0
    assert len(s.failed_info) == kube_state.FAILED_INFO_CAP  # details capped, each error truncated
    assert size < 40_000, size  # failures are a compressed bitmap, details capped
    # without failures a finished queue is a few hundred bytes, whatever its size
    clean = kube_state.QueueState(total=total, max_attempts=3)
    while got := clean.claim("a", 8192):
        for index, attempt in got:
            clean.complete("a", index, attempt, base.Outcome(1, 1, 0), now=0.0)
    assert len(json.dumps(clean.encode())) < 400


def test_facts_fold_into_fixed_size_shards_and_read_back_the_same():
    store = shards.MemoryShards()
    s = kube_state.QueueState(total=40, max_attempts=1, shard_size=8)
    s.load_shard = store.load
    for agent in "ab":
        for index, attempt in s.claim(agent, 20):
            if index % 3 == 0:
                s.fail(agent, index, attempt, "boom", False, 1, now=1.0)
            else:
                s.complete(agent, index, attempt, base.Outcome(1, 1, 0), now=1.0)
        s.close_write()
    assert len(s.journal) == 14  # 0, 3, ..., 39: every fact in the journal so far
    s.fold(store.load, store.save)
    assert len(s.journal) == 0 and sorted(store.data) == [0, 1, 2, 3, 4]  # ceil(40 / 8) shards at most
    again = kube_state.QueueState.decode(s.encode(), load_shard=store.load)
    assert list(again.with_code(shards.FAILED)) == list(range(0, 40, 3))
    assert again.progress() == s.progress()
    assert again.reset_failed() == 14 and again.progress().pending == 14
    assert [i for i, _ in again.claim("c", 3)] == [0, 3, 6]  # pending again, read from the shards


def test_a_shard_skips_journal_entries_it_already_has_or_that_were_superseded():
    shard = shards.Shard()
    assert shard.apply([(1, shards.FAILED, 3), (2, shards.FRESH, 4)], upto=5)
    assert shard.apply([(1, shards.FRESH, 6)], upto=7)
    assert not shard.apply([(1, shards.FAILED, 3)], upto=5)  # a slow folder's older snapshot changes nothing
    assert (shard.code(1), shard.code(2), shard.applied) == (shards.FRESH, shards.FRESH, 7)
    journal = shards.Journal({5: (shards.FAILED, 2), 9: (shards.FRESH, 7)})
    assert journal.fold_plan(8, upto=7) == {0: [(5, shards.FAILED, 2)]}  # the entry of the next write waits
    journal.trim(7)
    assert shards.Journal.decode(journal.encode()).entries == {9: (shards.FRESH, 7)}


@pytest.mark.parametrize(
    "instances, prefetch", [(1, 2048), (8, 2048), (9, 1820), (64, 256), (1000, 16), (100_000, 16), (0, 2048)]
)
def test_agents_share_a_fixed_in_flight_budget(instances, prefetch):
    assert kube_encoding.prefetch_for(instances) == prefetch


def test_the_queue_configmap_stays_small_with_a_thousand_agents_retrying_scattered_failures():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    import queue_size

    # with 2048 in flight per agent (the old fixed prefetch) 64 agents made this ConfigMap 328 KiB
    queue, shard, _, progress = queue_size.simulate(10_000, "alternating", 1024)
    assert progress.done + progress.failed == 10_000 and progress.failed == 5_000
    assert queue < 100_000 and shard < queue_size.LIMIT
