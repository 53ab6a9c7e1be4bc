"""Table tests of ``pjob.engine.capacity``: how many workers to start and
when a requested concurrency cannot fit the machine."""

import pytest
from pjob.engine import capacity

GIB = 1 << 30


@pytest.mark.parametrize(
    "requested,left,instances,expected",
    [
        (100000, 10, 1, 10),  # never more workers than mini-batches
        (4, 10, 1, 4),  # the setting when there is enough work
        (8, 10, 3, 4),  # each instance gets ceil(10 / 3) at most
        (8, 0, 1, 1),  # nothing left: one worker still starts (it says so and stops)
        (1, 1000, 2, 1),
    ],
)
def test_workers_to_start(requested, left, instances, expected):
    assert capacity.workers_to_start(requested, left, instances) == expected


@pytest.mark.parametrize(
    "requested,cpus,instances,planned,expected",
    [
        (100000, 8, 1, None, 8),  # no plan yet: at most the CPUs
        (2, 8, 1, None, 2),
        (0, 4, 1, None, 1),
        (4, 2, 20, None, 1),  # 20 instances on 2 CPUs: 1 each before the plan
        (4, 8, 2, None, 4),
        (100000, 8, 1, 3, 3),  # the plan is there: never more than it holds
        (4, 2, 20, 3, 1),
    ],
)
def test_early_workers(requested, cpus, instances, planned, expected):
    assert capacity.early_workers(requested, cpus, instances, planned) == expected


@pytest.mark.parametrize(
    "requested,memory,warns",
    [
        (100000, 16 * GIB, True),
        (64, 16 * GIB, False),  # 64 x 256 MiB = 16 GiB: fits
        (65, 16 * GIB, True),
        (100000, None, False),  # memory unknown: no guess
    ],
)
def test_warning(requested, memory, warns):
    said = capacity.warning(requested, 4, memory)
    assert bool(said) == warns
    if said:
        assert f"{requested} worker processes" in said and "--max-workers" in said
