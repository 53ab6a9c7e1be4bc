"""Entry-script host helpers (pjob.engine.host), EntryScript and log-tree paths."""

from __future__ import annotations

import logging
import os

import pytest
from azureml_user import parallel_run
from pjob.engine import host, logtree
from pjob.engine.task import ParallelTask


def _task(**kw):
    fields = dict(
        step="s",
        job="j",
        code_dir="/code",
        entry_script="sub/score.py",
        argv=["--x", "1"],
        env={"A": "1"},
        input_type="uri_folder",
        input_uri="/d",
        mini_batch_size=None,
        partition_keys=None,
        output_dir="/out",
        append_row_to=None,
        logs_dir="/logs",
        work_dir="/w",
        gpus=2,
    )
    fields.update(kw)
    return ParallelTask(**fields)


def one(a): ...
def two(a, b): ...
def two_default(a, b=None): ...
def star(*args): ...
def kw_only(a, *, ctx=None): ...


@pytest.mark.parametrize(
    "fn,wants", [(one, False), (two, True), (two_default, True), (star, True), (kw_only, False), (lambda a, b: 0, True)]
)
def test_wants_context(fn, wants):
    assert host.wants_context(fn) is wants


def test_argv_and_environment():
    task = _task()
    assert host.script_argv(task) == ["/code/sub/score.py", "--x", "1"]
    assert host.script_argv(_task(entry_script="pkg.score")) == ["pkg.score", "--x", "1"]
    env0 = host.worker_environment(task, {"PATH": "/bin", "A": "0"}, 0)
    assert env0 == {"PATH": "/bin", "A": "1", "AZUREML_BI_OUTPUT_PATH": "/out", "CUDA_VISIBLE_DEVICES": "0"}
    assert host.worker_environment(task, {}, 1)["CUDA_VISIBLE_DEVICES"] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in host.worker_environment(task, {}, 2)


def test_host_loads_file_and_module_scripts(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("def run(mb):\n    return [x * 2 for x in mb]\n")
    (tmp_path / "helper.py").write_text("K = 3\n")
    (tmp_path / "score.py").write_text(
        "import helper\nSTATE=[]\ndef init():\n    STATE.append('i')\n"
        "def run(mb, ctx):\n    return [(x, ctx.minibatch_index, helper.K, STATE) for x in mb]\n"
    )
    h = host.EntryScriptHost(_task(code_dir=str(tmp_path), entry_script="score.py"))
    h.load()
    h.init()
    assert h.run([1], host.MiniBatchContext(4, {}, "/d")) == [(1, 4, 3, ["i"])]
    h.shutdown()  # optional: absent is fine
    m = host.EntryScriptHost(_task(code_dir=str(tmp_path), entry_script="pkg.mod"))
    m.load()
    assert m.run([1, 2], None) == [2, 4]
    with pytest.raises(host.EntryScriptError, match="does not exist"):
        host.EntryScriptHost(_task(code_dir=str(tmp_path), entry_script="missing.py")).load()
    (tmp_path / "norun.py").write_text("x = 1\n")
    with pytest.raises(host.EntryScriptError, match="no run"):
        host.EntryScriptHost(_task(code_dir=str(tmp_path), entry_script="norun.py")).load()


def test_entry_script_singleton_configured_and_standalone(tmp_path):
    log_file = str(tmp_path / "logs" / "user" / "entry_script_log" / "0" / "process001.log.txt")
    parallel_run.configure(
        log_dir=str(tmp_path / "logs"),
        log_file=log_file,
        agent_name="process001",
        node="0",
        output_dir="/out",
        working_dir=str(tmp_path),
        logging_level="DEBUG",
    )
    es = parallel_run.EntryScript()
    assert es is parallel_run.EntryScript()
    assert (es.agent_name, es.output_dir, es.log_dir) == ("process001", "/out", str(tmp_path / "logs"))
    es.logger.debug("hello from the script")
    for handler in es.logger.handlers:
        handler.flush()
    assert "hello from the script" in open(log_file).read()
    assert es.logger.level == logging.DEBUG
    parallel_run.configure(log_dir="", log_file="", agent_name="", node="", output_dir="", working_dir="")
    standalone = parallel_run.EntryScript()
    assert standalone is not es and standalone.log_dir == os.getcwd()


def test_log_tree_paths_and_error_headers():
    tree = logtree.LogTree("/logs")
    assert tree.user_error("0", "process001") == "/logs/user/error/0/process001.txt"
    assert tree.entry_script_log("1", "process000") == "/logs/user/entry_script_log/1/process000.log.txt"
    assert tree.job_report == "/logs/sys/job_report/processed_mini-batches.csv"
    assert tree.progress_overview(10 * 86400 + 43200).startswith("/logs/job_progress_overview.19700111")
    for status, expected in [
        ("RUN_EXCEPTION", "user/error/0/process002.txt"),
        ("WORKER_DIED", "user/stderr/0/process002.stderr.txt"),
        ("RUN_TIMEOUT", "sys/node/0/process002.txt"),
    ]:
        header = logtree.attempt_header("0", "process002", status, 2)
        assert logtree.file_named_in(header + "\nTraceback...") == expected
    assert logtree.file_named_in("plain error") is None
    fatal = "init() failed 6 times\nlast error:\n" + logtree.attempt_header("1", "process000", "RUN_EXCEPTION", 1)
    assert logtree.file_named_in(fatal) == "user/error/1/process000.txt"
