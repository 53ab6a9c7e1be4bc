"""A files plan is a ``FileBatches``: mini-batches made on demand from the
listing, reading exactly as the eager list of ``MiniBatch`` it replaced."""

from __future__ import annotations

import pickle

import pjob.data
import pytest
from pjob.data import files
from pjob.data.minibatch import MiniBatch, Plan


def _eager(paths: list[str], per_batch: int) -> list[MiniBatch]:
    """What plan_files returned before: one MiniBatch per run of files."""
    chunks = [paths[s : s + per_batch] for s in range(0, len(paths), per_batch)]
    return [MiniBatch(i, "files", len(chunk), chunk) for i, chunk in enumerate(chunks)]


@pytest.mark.parametrize("count", [0, 1, 2, 9, 10, 11, 30])
@pytest.mark.parametrize("per_batch", [1, 3, 10])
def test_reads_as_the_eager_list(count, per_batch):
    paths = [f"/d/f{i:03d}" for i in range(count)]
    lazy, eager = files.plan_files(paths, per_batch), _eager(paths, per_batch)
    assert isinstance(lazy, files.FileBatches)
    assert len(lazy) == len(eager)
    assert list(lazy) == eager and lazy == eager and eager == lazy
    assert [lazy[i] for i in range(len(eager))] == eager
    assert [lazy[-i] for i in range(1, len(eager) + 1)] == [eager[-i] for i in range(1, len(eager) + 1)]
    for cut in (slice(None), slice(1, None), slice(None, -1), slice(None, None, 2), slice(-2, None), slice(5, 1)):
        assert lazy[cut] == eager[cut]
    assert list(reversed(lazy)) == eager[::-1]
    assert lazy.item_counts() == [mb.items for mb in eager]
    assert bool(lazy) == bool(eager)
    if eager:
        assert eager[-1] in lazy and lazy.index(eager[-1]) == len(eager) - 1


def test_out_of_range_and_bad_keys():
    lazy = files.plan_files(["a", "b", "c"], 2)
    assert len(lazy) == 2
    for bad in (2, -3, 100):
        with pytest.raises(IndexError):
            lazy[bad]
    with pytest.raises(TypeError):
        lazy["0"]  # type: ignore[call-overload]
    with pytest.raises(IndexError):
        files.plan_files([], 1)[0]


def test_each_mini_batch_is_its_own_copy():
    paths = ["a", "b", "c"]
    lazy = files.plan_files(paths, 2)
    lazy[0].paths.append("z")  # as with the eager list, a caller's change stays in its mini-batch
    assert lazy[0] == MiniBatch(0, "files", 2, ["a", "b"]) and paths == ["a", "b", "c"]


def test_equality_and_a_plan_of_it():
    paths = ["a", "b", "c"]
    assert files.plan_files(paths, 2) == files.plan_files(list(paths), 2)
    assert files.plan_files(paths, 2) != files.plan_files(paths, 1)
    assert files.plan_files(paths, 3) != files.plan_files(paths[:2], 3)
    assert files.plan_files([], 1) == files.plan_files([], 5) == []
    assert files.plan_files(paths, 1) != tuple(_eager(paths, 1))  # a list's equality: not a tuple's
    plan = Plan(kind="files", mini_batches=files.plan_files(paths, 2), items=3)
    assert plan == Plan(kind="files", mini_batches=_eager(paths, 2), items=3)
    assert Plan.from_json(plan.to_json()) == plan
    assert pickle.loads(pickle.dumps(plan)) == plan
    assert "3 files, 2 per mini-batch" in repr(plan)
    with pytest.raises(TypeError):
        hash(plan.mini_batches)


def test_a_folder_plans_lazily(tmp_path):
    for name in ("b.txt", "a.txt", "c.txt"):
        (tmp_path / name).write_text("x")
    plan = pjob.data.plan("uri_folder", str(tmp_path), 2, None)
    assert isinstance(plan.mini_batches, files.FileBatches)
    assert plan.mini_batches.paths == [str(tmp_path / n) for n in ("a.txt", "b.txt", "c.txt")]
    assert plan.mini_batches == _eager(plan.mini_batches.paths, 2)


def test_a_zero_batch_size_is_refused():
    with pytest.raises(pjob.data.errors.UserError, match="at least 1"):
        files.plan_files(["a"], 0)
