"""The entry-script contract and the log tree (docs/writing-jobs.md), through
real agent and worker processes."""

from __future__ import annotations

import csv
import json
import os

import engine_support as es
from pjob.local import parallel_step

CONTRACT_SCRIPT = """
import argparse, json, os, sys
from azureml_user.parallel_run import EntryScript

STATE = {}

def init():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name")
    args, unknown = parser.parse_known_args()
    STATE["model"] = args.model_name
    STATE["unknown"] = unknown
    es = EntryScript()
    es.logger.info("init done in %s", es.agent_name)
    STATE["es"] = [es.agent_name, es.output_dir, es.working_dir, es.log_dir, EntryScript() is es]

def run(mini_batch, mini_batch_context):
    print("running", mini_batch_context.minibatch_index)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pandas", "pyarrow"))
    info = {
        "index": mini_batch_context.minibatch_index,
        "keys": mini_batch_context.partition_key_value,
        "dataset": mini_batch_context.dataset,
        "argv0": os.path.basename(sys.argv[0]),
        "model": STATE["model"], "unknown": STATE["unknown"],
        "env": os.environ.get("MY_VAR"), "out": os.environ.get("AZUREML_BI_OUTPUT_PATH"),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cwd": os.getcwd(), "script_dir_on_path": os.path.dirname(os.path.abspath(__file__)) in sys.path,
        "es": STATE["es"], "heavy": heavy, "type": type(mini_batch).__name__,
        "files": [os.path.basename(p) for p in mini_batch],
    }
    return [json.dumps(info)] + [""] * (len(mini_batch) - 1)
"""


def test_contract_argv_env_context_entryscript_and_no_pandas(tmp_path):
    task = es.make_task(
        tmp_path,
        CONTRACT_SCRIPT,
        n_files=5,
        mini_batch_size="2",
        argv=["--model_name", "m1", "--error_threshold", "5", "--user_flag", "x"],
        env={"MY_VAR": "hello"},
        gpus=1,
    )
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded", es.read(result.job_result)
    assert result.counters.items_succeeded == 5
    lines = [json.loads(line) for line in es.read(task.append_row_to).splitlines() if line.startswith("{")]
    assert [d["index"] for d in lines] == [0, 1, 2]  # mini-batch order
    assert [d["files"] for d in lines] == [["f0000.txt", "f0001.txt"], ["f0002.txt", "f0003.txt"], ["f0004.txt"]]
    for d in lines:
        assert d["keys"] == {} and d["dataset"] == task.input_uri
        assert d["argv0"] == "score.py" and d["model"] == "m1"
        assert d["unknown"] == ["--error_threshold", "5", "--user_flag", "x"]  # runtime + user flags stay
        assert d["env"] == "hello" and d["out"] == task.output_dir
        assert d["cwd"].startswith(task.work_dir) and d["script_dir_on_path"]
        assert d["heavy"] == [] and d["type"] == "list"  # a files job never imports pandas/pyarrow
        agent_name, out_dir, _, log_dir, singleton = d["es"]
        assert agent_name.startswith("process") and out_dir == task.output_dir and log_dir == task.logs_dir
        assert singleton
        assert d["cuda"] in ("0", None)  # one GPU: worker 0 gets it, worker 1 none
        if agent_name == "process000":
            assert d["cuda"] == "0"
        else:
            assert d["cuda"] is None
    # the file is byte-exact: str(item) + "\n" per element
    assert es.read(task.append_row_to).count("\n") == 5


def test_log_tree(tmp_path):
    task = es.make_task(tmp_path, CONTRACT_SCRIPT, n_files=4, flags={"resource_monitor_interval": 1})
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded"
    logs = task.logs_dir
    for rel in (
        "readme.txt",
        "job_result.txt",
        "job_error.txt",
        "failed_mini_batches.jsonl",
        "sys/master_role.txt",
        "sys/job_report/processed_mini-batches.csv",
        "sys/perf/0/node_resource_usage.csv",
    ):
        assert os.path.isfile(os.path.join(logs, rel)), rel
    assert any(n.startswith("job_progress_overview.") for n in os.listdir(logs))
    assert es.read(os.path.join(logs, "job_result.txt")).startswith("Succeeded")
    with open(os.path.join(logs, "sys/job_report/processed_mini-batches.csv")) as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["mini_batch_id"]) for r in rows) == [0, 1]
    assert {r["status"] for r in rows} == {"RUN_DONE"}
    procs = {r["process"].split("/")[1] for r in rows}
    for proc in procs:
        assert "running" in es.read(os.path.join(logs, "user/stdout/0", f"{proc}.stdout.txt"))
        assert "RUN_DONE" in es.read(os.path.join(logs, "sys/node/0", f"{proc}.txt"))
    entry_logs = os.listdir(os.path.join(logs, "user/entry_script_log/0"))
    assert any("init done" in es.read(os.path.join(logs, "user/entry_script_log/0", n)) for n in entry_logs)
    perf = es.read(os.path.join(logs, "sys/perf/0/node_resource_usage.csv")).splitlines()
    assert perf[0].startswith("time,cpu_percent") and len(perf) >= 2


def test_summary_only_and_dataframe_header(tmp_path):
    script = """
import pandas as pd
def run(mini_batch):
    return pd.DataFrame({"name": [p.rsplit("/", 1)[1] for p in mini_batch], "n": range(len(mini_batch))})
"""
    task = es.make_task(tmp_path / "a", script, n_files=3, flags={"append_row_dataframe_header": True})
    assert parallel_step.run_parallel_step(task).status == "Succeeded"
    assert es.read(task.append_row_to) == "name n\nf0000.txt 0\nf0001.txt 1\nf0002.txt 0\n"
    task = es.make_task(tmp_path / "b", script, n_files=3)
    assert parallel_step.run_parallel_step(task).status == "Succeeded"
    assert es.read(task.append_row_to) == "f0000.txt 0\nf0001.txt 1\nf0002.txt 0\n"
    task = es.make_task(tmp_path / "c", script, n_files=3, append_row=False)
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Succeeded" and result.counters.items_succeeded == 3
    assert not os.path.exists(os.path.join(task.output_dir, "parallel_run_step.txt"))


def test_replay_runs_one_mini_batch_in_this_process(tmp_path):
    script = """
import os, sys
def init():
    global PID
    PID = os.getpid()
def run(mini_batch, ctx):
    return [f"{ctx.minibatch_index} {os.path.basename(p)} {PID} {os.environ['MY_VAR']} {sys.argv[1:]}" for p in mini_batch]
"""
    task = es.make_task(tmp_path, script, n_files=5, env={"MY_VAR": "v"}, argv=["--a", "1"])
    assert parallel_step.run_parallel_step(task).status == "Succeeded"
    cwd, argv = os.getcwd(), list(__import__("sys").argv)
    result = parallel_step.replay(task, 1)
    assert result.items == 2 and result.succeeded == 2 and result.failed == 0
    assert result.rows == (f"1 f0002.txt {os.getpid()} v ['--a', '1']\n1 f0003.txt {os.getpid()} v ['--a', '1']\n")
    assert os.getcwd() == cwd and __import__("sys").argv == argv and "MY_VAR" not in os.environ


def test_planning_error_is_a_user_error_and_leaves_no_process(tmp_path):
    import psutil
    import pytest
    from pjob.spec import errors

    task = es.make_task(tmp_path, CONTRACT_SCRIPT, n_files=1)
    task.input_uri = str(tmp_path / "missing")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(errors.UserError, match="does not exist"):
        parallel_step.run_parallel_step(task)
    leftover = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert leftover == []
