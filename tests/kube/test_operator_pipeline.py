"""PipelineJobs on the fake cluster: a command step feeding a parallel step
(the many-models example, same output bytes as `pjob run`), and a failing
step that fails the pipeline with nothing downstream started. Also a
ParallelJob whose error threshold trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from operator_support import (
    apply_cr,
    assert_rbac_covers,
    cluster,
    condition,
    copy_example,
    cr_for,
    get_cr,
    operator_env,
    run_local,
    start_operator,
    wait_operator_watching,
    wait_status,
    write_operator_config,
)


@pytest.fixture
def world(kube_api, kubelet, apply_crds, start_process, kube_env, wait_for_request, tmp_path):
    apply_crds()
    root = tmp_path / "ds"
    cluster(kube_api, root)
    config = write_operator_config(root, tmp_path / "operator-config.json")
    operator = start_operator(start_process, operator_env(kube_env, root, PJOB_CONFIG_FILE=config))
    wait_operator_watching(wait_for_request)

    class World:
        pass

    w = World()
    w.root, w.api, w.kubelet, w.operator = root, kube_api, kubelet, operator
    return w


def terminal(w, plural: str, name: str, timeout: float = 120) -> dict:
    return wait_status(
        w.api, plural, name, lambda s: s.get("state") in ("Succeeded", "Failed"), w.operator, timeout=timeout
    )


def wait_event(w, name: str, type_: str, reason: str) -> dict:
    """Events are posted after the status write, asynchronously."""
    return w.api.wait_for(
        lambda: next(
            (
                e
                for e in w.api.list("v1", "events", "default")
                if e["involvedObject"]["name"] == name and (e["type"], e["reason"]) == (type_, reason)
            ),
            None,
        ),
        timeout=20,
        message=f"a {type_} {reason} event for {name}",
    )


def test_command_step_feeding_a_parallel_step_succeeds_in_order(world, tmp_path):
    example = copy_example("many-models", world.root)
    run_local(example / "pipeline.yml", tmp_path / "local-runs")
    apply_cr(world.api, cr_for(example / "pipeline.yml", name="many-models"))
    status = terminal(world, "pipelinejobs", "many-models")
    assert status["state"] == "Succeeded", status
    assert {k: v["state"] for k, v in status["steps"].items()} == {"prepare": "Succeeded", "train": "Succeeded"}
    assert condition(status, "Succeeded")["reason"] == "StepsSucceeded"
    prepare = world.api.get("batch/v1", "jobs", "many-models-prepare", "default")
    train = get_cr(world.api, "paralleljobs", "many-models-train")
    # in order: the parallel step was created only after the command step had finished
    assert train["metadata"]["creationTimestamp"] >= prepare["status"]["completionTime"]
    assert train["status"]["state"] == "Succeeded"
    assert train["metadata"]["ownerReferences"][0]["kind"] == "PipelineJob"
    out = Path(status["outputs"]["train.models"])
    local = tmp_path / "local-runs" / "many-models" / "steps" / "train" / "outputs" / "models"
    assert out.read_bytes() == local.read_bytes()
    assert (
        (world.root / "runs" / "default" / "many-models" / "steps" / "prepare" / "logs" / "job_result.txt")
        .read_text()
        .startswith("Status: Succeeded")
    )
    assert_rbac_covers(world.api)


def test_a_failed_step_fails_the_pipeline_and_nothing_downstream_starts(world):
    folder = world.root / "shipped" / "broken"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "score.py").write_text("def run(mini_batch):\n    return mini_batch\n")
    (folder / "pipeline.yml").write_text("""\
type: pipeline
name: broken
jobs:
  prepare:
    type: command
    command: echo preparing; echo no data >&2; exit 3
    outputs: {data: {type: uri_folder}}
  score:
    type: parallel
    inputs: {data: {type: uri_folder, path: "${{parent.jobs.prepare.outputs.data}}"}}
    outputs: {scores: {type: uri_file}}
    input_data: ${{inputs.data}}
    task: {code: ./code, entry_script: score.py, append_row_to: "${{outputs.scores}}"}
""")
    apply_cr(world.api, cr_for(folder / "pipeline.yml", name="broken"))
    status = terminal(world, "pipelinejobs", "broken")
    assert status["state"] == "Failed"
    assert status["steps"]["prepare"]["state"] == "Failed"
    assert status["steps"]["score"]["state"] == "Skipped"
    failed = condition(status, "Failed")
    assert failed["reason"] == "StepFailed" and "prepare" in failed["message"]
    assert world.api.list("pjob.dev/v1alpha1", "paralleljobs", "default") == []
    logs = world.root / "runs" / "default" / "broken" / "steps" / "prepare" / "logs"
    assert (logs / "stderr.txt").read_text() == "no data\n"
    assert "command exited with code 3" in (logs / "job_result.txt").read_text()
    wait_event(world, "broken", "Warning", "StepFailed")


def test_error_threshold_fails_the_paralleljob_with_the_rule_as_reason(world):
    example = copy_example("file-processing", world.root)
    (example / "code" / "picky.py").write_text(
        "def run(mini_batch):\n"
        "    if any(p.endswith(('doc_003.txt', 'doc_017.txt')) for p in mini_batch):\n"
        "        raise ValueError('refusing ' + str(mini_batch))\n"
        "    return mini_batch\n"
    )
    path = example / "picky.yml"
    path.write_text("""\
type: parallel
name: picky
inputs: {docs: {type: uri_folder, path: ./docs}}
outputs: {out: {type: uri_folder}}
input_data: ${{inputs.docs}}
mini_batch_size: "4"
mini_batch_error_threshold: 1
max_concurrency_per_instance: 2
retry_settings: {max_retries: 0, timeout: 30}
task: {code: ./code, entry_script: picky.py, append_row_to: "${{outputs.out}}"}
""")
    apply_cr(world.api, cr_for(path, name="picky"))
    status = terminal(world, "paralleljobs", "picky")
    assert status["state"] == "Failed"
    failed = condition(status, "Failed")
    assert failed["reason"] == "MiniBatchErrorThreshold", failed
    assert "more than mini_batch_error_threshold = 1" in failed["message"]
    assert status["miniBatches"]["failed"] == 2
    job_result = (Path(status["logs"]) / "job_result.txt").read_text()
    assert "mini_batch_error_threshold" in job_result and "refusing" in job_result
    wait_event(world, "picky", "Warning", "MiniBatchErrorThreshold")
    assert_rbac_covers(world.api)  # stopping the workers and watching them go are granted too


def test_init_failure_fails_the_job_fast_with_the_error_in_its_status(world):
    example = copy_example("file-processing", world.root)
    (example / "code" / "broken_init.py").write_text(
        "def init():\n    raise RuntimeError('model file missing')\n\n\ndef run(mini_batch):\n    return mini_batch\n"
    )
    path = example / "broken.yml"
    path.write_text("""\
type: parallel
name: broken-init
inputs: {docs: {type: uri_folder, path: ./docs}}
outputs: {out: {type: uri_folder}}
input_data: ${{inputs.docs}}
max_concurrency_per_instance: 1
task: {code: ./code, entry_script: broken_init.py, append_row_to: "${{outputs.out}}"}
""")
    apply_cr(world.api, cr_for(path, name="broken-init"))
    status = terminal(world, "paralleljobs", "broken-init", timeout=60)
    assert status["state"] == "Failed"
    failed = condition(status, "Failed")
    assert failed["reason"] == "InitFailure", failed
    assert "init() failed 3 times in a row" in failed["message"]
    pods = [
        p
        for p in world.api.list("v1", "pods", "default")
        if p["metadata"]["labels"].get("pjob.dev/job") == "broken-init"
        and p["metadata"]["labels"].get("pjob.dev/role") == "worker"
    ]
    assert len(pods) == 1, "exit 3 fails the Job at once (podFailurePolicy), no pod retries"
    job = world.api.get("batch/v1", "jobs", "broken-init-workers", "default")
    assert any(x["type"] == "Failed" and x["status"] == "True" for x in job["status"]["conditions"])
    assert "model file missing" in (Path(status["logs"]) / "job_result.txt").read_text()


def test_operator_restart_mid_pipeline_creates_each_child_once(
    world, start_process, kube_env, wait_for_request, tmp_path
):
    from operator_support import write_operator_config

    folder = world.root / "shipped" / "two-steps"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "score.py").write_text("def run(mini_batch):\n    return [p[-5:] for p in mini_batch]\n")
    (folder / "pipeline.yml").write_text("""\
type: pipeline
name: two-steps
jobs:
  make:
    type: command
    command: sleep 2 && for i in 1 2 3 4 5; do echo $i > ${{outputs.files}}/f$i.txt; done
    outputs: {files: {type: uri_folder}}
  score:
    type: parallel
    inputs: {files: {type: uri_folder, path: "${{parent.jobs.make.outputs.files}}"}}
    outputs: {scores: {type: uri_file}}
    input_data: ${{inputs.files}}
    mini_batch_size: "2"
    task: {code: ./code, entry_script: score.py, append_row_to: "${{outputs.scores}}"}
""")
    apply_cr(world.api, cr_for(folder / "pipeline.yml", name="two-steps"))
    wait_status(
        world.api,
        "pipelinejobs",
        "two-steps",
        lambda s: (s.get("steps") or {}).get("make", {}).get("state") == "Running",
        world.operator,
    )
    world.operator.stop()
    config = write_operator_config(world.root, tmp_path / "operator-config-2.json")
    world.operator = start_operator(start_process, operator_env(kube_env, world.root, PJOB_CONFIG_FILE=config))
    status = terminal(world, "pipelinejobs", "two-steps")
    assert status["state"] == "Succeeded", status
    assert [
        j["metadata"]["name"]
        for j in world.api.list("batch/v1", "jobs", "default")
        if j["metadata"]["labels"].get("pjob.dev/pipeline") == "two-steps"
    ] == ["two-steps-make"]
    assert [p["metadata"]["name"] for p in world.api.list("pjob.dev/v1alpha1", "paralleljobs", "default")] == [
        "two-steps-score"
    ]
    assert Path(status["outputs"]["score.scores"]).read_text() == "1.txt\n2.txt\n3.txt\n4.txt\n5.txt\n"


def test_an_input_that_cannot_be_planned_fails_the_job_with_the_reason(world):
    example = copy_example("file-processing", world.root)
    table = example / "table"
    table.mkdir()
    (table / "data.csv").write_text("a,b\n1,2\n3,4\n")
    (table / "MLTable").write_text(
        "paths:\n  - file: ./data.csv\ntransformations:\n  - read_delimited: {delimiter: ','}\n"
    )
    path = example / "bad-keys.yml"
    path.write_text("""\
type: parallel
name: bad-keys
inputs: {rows: {type: mltable, path: ./table}}
outputs: {out: {type: uri_folder}}
input_data: ${{inputs.rows}}
partition_keys: [store]
task: {code: ./code, entry_script: count_words.py, append_row_to: "${{outputs.out}}"}
""")
    apply_cr(world.api, cr_for(path, name="bad-keys"))
    status = terminal(world, "paralleljobs", "bad-keys", timeout=60)
    assert status["state"] == "Failed"
    failed = condition(status, "Failed")
    assert failed["message"].startswith("planning ") and "not columns of the table" in failed["message"], failed
    job_result = (Path(status["logs"]) / "job_result.txt").read_text()
    assert job_result.startswith("Failed") and "partition_keys ['store']" in job_result
