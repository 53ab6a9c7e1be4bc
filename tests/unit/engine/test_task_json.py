"""ParallelTask round-trips through its JSON file (task.json beside a run, the task ConfigMap, the
annotation of a pipeline's child ParallelJob), and a task written before the typed cluster fields
(``"extra": {...}``) still loads."""

import json

from pjob.engine.task import ParallelTask
from pjob.spec.flags import RuntimeFlags


def _task(**changes):
    fields = dict(
        step="score",
        job="j",
        code_dir="/c",
        entry_script="score.py",
        argv=["--x", "1"],
        env={"A": "b"},
        input_type="uri_folder",
        input_uri="/in",
        mini_batch_size="2",
        partition_keys=None,
        output_dir="/out",
        append_row_to=None,
        logs_dir="/logs",
        work_dir="/work",
    )
    return ParallelTask(**{**fields, **changes})


def test_a_task_round_trips_with_its_cluster_fields():
    task = _task(
        concurrency_from_node=True, conda_file={"dependencies": ["pip"]}, flags=RuntimeFlags(error_threshold=5)
    )
    assert ParallelTask.from_json(task.to_json()) == task


def test_a_task_written_with_the_extra_mapping_still_loads():
    old = json.loads(_task().to_json())
    del old["concurrency_from_node"], old["conda_file"]
    old["extra"] = {"concurrency_from_node": True, "conda_file": "/envs/score.yml"}
    task = ParallelTask.from_json(json.dumps(old))
    assert task.concurrency_from_node is True and task.conda_file == "/envs/score.yml"
    old["extra"] = {}
    assert ParallelTask.from_json(json.dumps(old)) == _task()
