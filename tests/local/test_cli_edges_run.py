"""Edge cases of ``pjob run`` driven by the user's entry script, Ctrl-C and a
second ``pjob run`` of the same job, through the real console script.

A failing script must give exit 1 with ``job_result.txt`` naming the cause;
odd but valid returns must be written exactly; nothing the script printed or
returned may be lost. Helpers (job folder, CLI call) come from test_cli_edges.
"""

import glob
import os
import signal
import subprocess
import sys
import time

import pytest
from test_cli_edges import PJOB_SCRIPT, assert_user_error, pjob, write_job

RUN = ("pjob-runs", "edge", "steps", "step")


def run_dir(tmp_path, *parts):
    return os.path.join(tmp_path, *RUN, *parts)


def output_lines(tmp_path):
    with open(run_dir(tmp_path, "outputs", "out", "parallel_run_step.txt"), encoding="utf-8") as fh:
        return fh.read().splitlines()


def job_result(tmp_path):
    with open(run_dir(tmp_path, "logs", "job_result.txt"), encoding="utf-8") as fh:
        return fh.read()


# --- scripts that make the job fail: exit 1, job_result.txt says why ----------------------------------------

FAILING_SCRIPTS = {
    "run-three-args": ("def run(a, b, c):\n    return a\n", ["TypeError", "'c'"]),
    "sys-exit-0-in-run": ("import sys\ndef run(mini_batch):\n    sys.exit(0)\n", ["SystemExit: 0", "RUN_EXCEPTION"]),
    "sys-exit-3-in-init": (
        "import sys\ndef init():\n    sys.exit(3)\ndef run(mini_batch):\n    return mini_batch\n",
        ["init_failure", "SystemExit: 3"],
    ),
    "returns-dict": ("def run(mini_batch):\n    return {'a': 1}\n", ["list, tuple or pandas DataFrame", "not dict"]),
    # error_threshold -1 (the default) does not count short returns as failures; nothing to write still fails
    "returns-none": (
        "def run(mini_batch):\n    pass\n",
        ["no_successes", "returned no result for any item", "is a return statement missing?"],
    ),
    "os-exit-in-run": ("import os\ndef run(mini_batch):\n    os._exit(0)\n", ["WORKER_DIED", "exited with code 0"]),
}


@pytest.mark.parametrize("name", list(FAILING_SCRIPTS))
def test_failing_entry_script_exits_1_with_reason_in_job_result(tmp_path, name):
    script, needles = FAILING_SCRIPTS[name]
    yml = write_job(tmp_path, script)
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr  # the traceback belongs in the logs, not on the console
    assert "job_result.txt" in proc.stdout
    text = job_result(tmp_path)
    assert text.startswith("Failed"), text
    for needle in needles:
        assert needle in text, (needle, text)
    assert "open next:" in text


# A script that cannot work at all may be caught by validation (exit 2 at FILE:LINE, better than Azure) or at
# run time (exit 1, job_result.txt); either way the user is told where and what.
BROKEN_SCRIPTS = {
    "syntax-error": (
        "def run(mini_batch)\n    return mini_batch\n",
        ["score.py:1", "expected ':'"],
        ["init_failure", "SyntaxError", "score.py"],
    ),
    "no-run": ("def init():\n    pass\n", ["score.py", "run("], ["init_failure", "no run(mini_batch) function"]),
}


@pytest.mark.parametrize("name", list(BROKEN_SCRIPTS))
def test_broken_entry_script_is_named_at_validation_or_in_job_result(tmp_path, name):
    script, at_validation, at_run = BROKEN_SCRIPTS[name]
    proc = pjob("run", write_job(tmp_path, script), cwd=tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr
    if proc.returncode == 2:
        for needle in at_validation:
            assert needle in proc.stderr, (needle, proc.stderr)
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        text = job_result(tmp_path)
        for needle in at_run:
            assert needle in text, (needle, text)


# --- odd but valid returns and output --------------------------------------------------------------------------


def test_numpy_array_return_is_written_one_row_per_element(tmp_path):
    script = "import numpy\ndef run(mini_batch):\n    return numpy.array([len(p) for p in mini_batch])\n"
    yml = write_job(tmp_path, script)
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lengths = [str(len(os.path.join(str(tmp_path), "docs", f"f{i:02d}.txt"))) for i in range(6)]
    assert output_lines(tmp_path) == lengths


def test_non_ascii_returns_are_written_as_utf8(tmp_path):
    script = "def run(mini_batch):\n    return ['h\u00e9llo \u2713 \u65e5\u672c ' + p[-7:] for p in mini_batch]\n"
    yml = write_job(tmp_path, script)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    with open(run_dir(tmp_path, "outputs", "out", "parallel_run_step.txt"), "rb") as fh:
        data = fh.read()
    expected = "".join(f"h\u00e9llo \u2713 \u65e5\u672c f{i:02d}.txt\n" for i in range(6))
    assert data == expected.encode("utf-8")


def test_more_returns_than_inputs_keeps_every_row(tmp_path):
    yml = write_job(tmp_path, "def run(mini_batch):\n    return mini_batch + mini_batch\n")
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    assert len(output_lines(tmp_path)) == 12
    assert "items:        6 succeeded, 0 failed" in job_result(tmp_path)


def test_ten_megabytes_of_stdout_go_to_the_log_not_the_console(tmp_path):
    script = (
        "import sys\ndef run(mini_batch):\n"
        "    sys.stdout.write('x' * (10 * 1024 * 1024) + '\\n')\n    return mini_batch\n"
    )
    yml = write_job(tmp_path, script, files=2)
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(proc.stdout) + len(proc.stderr) < 20_000
    logged = sum(os.path.getsize(p) for p in glob.glob(run_dir(tmp_path, "logs", "user", "stdout", "*", "*")))
    assert logged >= 10 * 1024 * 1024


def test_file_names_with_spaces_and_unicode(tmp_path):
    yml = write_job(
        tmp_path,
        "def run(mini_batch):\n    return [open(p, encoding='utf-8').read().strip() + "
        "' | ' + p.rsplit('/', 1)[1] for p in mini_batch]\n",
        files=0,
    )
    folder = tmp_path / "my docs \u2713"
    os.rename(tmp_path / "docs", folder)
    names = ["with space.txt", 'quote"s,comma.txt', "\u65e5\u672c\u8a9e \u2713.txt", "\u00e9t\u00e9.txt"]
    for i, name in enumerate(names):
        (folder / name).write_text(f"content {i}", encoding="utf-8")
    with open(yml, encoding="utf-8") as fh:
        text = fh.read().replace("path: ./docs", 'path: "./my docs \u2713"')
    with open(yml, "w", encoding="utf-8") as fh:
        fh.write(text)
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    expected = sorted(names)
    assert output_lines(tmp_path) == [f"content {names.index(n)} | {n}" for n in expected]


def test_run_may_start_its_own_process_pool(tmp_path):
    """Workers must not be daemonic: CPU-bound scripts use multiprocessing inside run()."""
    script = (
        "import multiprocessing\ndef square(x):\n    return x * x\n"
        "def run(mini_batch):\n    with multiprocessing.Pool(2) as pool:\n"
        "        return pool.map(square, range(len(mini_batch)))\n"
    )
    proc = pjob("run", write_job(tmp_path, script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert output_lines(tmp_path) == ["0", "1"] * 3


def test_shutdown_error_is_logged_not_lost(tmp_path):
    script = (
        "def run(mini_batch):\n    return mini_batch\ndef shutdown():\n    raise RuntimeError('boom in shutdown')\n"
    )
    yml = write_job(tmp_path, script)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    logged = [
        p
        for p in glob.glob(run_dir(tmp_path, "logs", "user", "error", "*", "*"))
        if "boom in shutdown" in open(p, encoding="utf-8").read()
    ]
    assert logged


def test_empty_input_folder_fails_with_exit_1_and_job_result(tmp_path):
    yml = write_job(tmp_path, files=0)
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "mini-batches: 0 total" in job_result(tmp_path)


def test_rerun_of_a_succeeded_job_keeps_its_output(tmp_path):
    yml = write_job(tmp_path)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    first = output_lines(tmp_path)
    again = pjob("run", yml, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already succeeded" in again.stdout
    assert output_lines(tmp_path) == first and len(first) == 6


# --- Ctrl-C and a second pjob run at the same time -----------------------------------------------------------

SLOW_SCRIPT = """\
import os, time
MARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "marks")
def run(mini_batch):
    time.sleep(0.3)
    for p in mini_batch:
        open(os.path.join(MARKS, os.path.basename(p)), "a").close()
    return [os.path.basename(p) for p in mini_batch]
"""


def _start_slow_run(tmp_path, files=16):
    yml = write_job(tmp_path, SLOW_SCRIPT, files=files, mini_batch_size="1")
    os.makedirs(tmp_path / "marks", exist_ok=True)
    cmd = [PJOB_SCRIPT] if os.path.exists(PJOB_SCRIPT) else [sys.executable, "-m", "pjob.cli"]
    proc = subprocess.Popen(
        cmd + ["run", yml],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 30
    while len(os.listdir(tmp_path / "marks")) < 2:  # wait until mini-batches are really being processed
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    return yml, proc


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_ctrl_c_stops_everything_then_the_same_command_resumes(tmp_path):
    yml, proc = _start_slow_run(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in out + err
    deadline = time.time() + 10
    while _group_alive(proc.pid):  # no worker or agent outlives the interrupted run
        assert time.time() < deadline, "processes of the interrupted run are still alive"
        time.sleep(0.1)
    assert len(os.listdir(tmp_path / "marks")) < 16, "the run finished before Ctrl-C; the test proved nothing"
    resumed = pjob("run", yml, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert output_lines(tmp_path) == [f"f{i:02d}.txt" for i in range(16)]


def test_second_run_of_a_running_job_is_refused_and_output_is_written_once(tmp_path):
    yml, first = _start_slow_run(tmp_path, files=10)
    second = pjob("run", yml, cwd=tmp_path)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "already running" in second.stderr and "Traceback" not in second.stderr
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert output_lines(tmp_path) == [f"f{i:02d}.txt" for i in range(10)]
    assert "attempts:     10" in job_result(tmp_path)


# --- fixing a failed mini-batch, multi-step pipelines ------------------------------------------------------------


def test_retry_failed_after_fixing_the_script_completes_the_output_in_order(tmp_path):
    failing = (
        "def run(mini_batch):\n    if mini_batch[0].endswith('f02.txt'):\n        raise ValueError('bad')\n"
        "    return [p[-7:] for p in mini_batch]\n"
    )
    yml = write_job(tmp_path, failing)
    first = pjob("run", yml, cwd=tmp_path)
    assert first.returncode == 0, first.stderr  # mini_batch_error_threshold defaults to -1 (as in Azure)
    assert "(1 failed)" in first.stderr
    assert "ValueError: bad" in job_result(tmp_path)
    assert output_lines(tmp_path) == ["f00.txt", "f01.txt", "f04.txt", "f05.txt"]
    with open(os.path.join(tmp_path, "code", "score.py"), "w", encoding="utf-8") as fh:
        fh.write("def run(mini_batch):\n    return [p[-7:] for p in mini_batch]\n")
    again = pjob("run", yml, "--retry-failed", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert output_lines(tmp_path) == [f"f{i:02d}.txt" for i in range(6)]
    assert "attempts:     4" in job_result(tmp_path)  # only the failed mini-batch ran again


TWO_STEPS = """\
type: pipeline
display_name: edge
jobs:
  prep:
    type: command
    command: {command}
    outputs:
      files: {{type: uri_folder}}
  step:
    type: parallel
    inputs:
      data: ${{{{parent.jobs.prep.outputs.{output}}}}}
    outputs:
      out: {{type: uri_folder}}
    input_data: ${{{{inputs.data}}}}
    mini_batch_size: "1"
    task:
      type: run_function
      code: ./code
      entry_script: score.py
      append_row_to: ${{{{outputs.out}}}}
"""
MAKE_FILES = "for i in 1 2 3; do echo $i > ${{outputs.files}}/f0$i.txt; done"


def _two_steps(tmp_path, command=MAKE_FILES, output="files"):
    write_job(tmp_path, "def run(mini_batch):\n    return [p[-7:] for p in mini_batch]\n", files=0)
    path = os.path.join(tmp_path, "two.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(TWO_STEPS.format(command=command, output=output))
    return path


def test_command_step_output_feeds_the_parallel_step(tmp_path):
    proc = pjob("run", _two_steps(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert output_lines(tmp_path) == ["f01.txt", "f02.txt", "f03.txt"]


def test_failing_command_step_exits_1_and_skips_the_rest(tmp_path):
    proc = pjob("run", _two_steps(tmp_path, command="echo oops >&2; exit 7"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "command exited with code 7" in proc.stdout and "Skipped" in proc.stdout
    with open(
        os.path.join(tmp_path, "pjob-runs", "edge", "steps", "prep", "logs", "job_result.txt"), encoding="utf-8"
    ) as fh:
        text = fh.read()
    assert "exit 7" in text and "oops" in text


def test_binding_to_a_missing_step_output_is_named(tmp_path):
    proc = pjob("validate", _two_steps(tmp_path, output="filez"), cwd=tmp_path)
    assert_user_error(proc, "two.yml:12: jobs.step.inputs.data", "'filez'", "files")


# --- where paths resolve ------------------------------------------------------------------------------------


def test_yaml_paths_resolve_next_to_the_yaml_and_runs_go_to_the_cwd(tmp_path):
    yml = write_job(tmp_path / "project")
    (tmp_path / "elsewhere").mkdir()
    proc = pjob("run", os.path.relpath(yml, tmp_path / "elsewhere"), cwd=tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "elsewhere" / os.path.join(*RUN, "outputs", "out", "parallel_run_step.txt")) as fh:
        rows = fh.read().splitlines()
    assert rows == [os.path.join(str(tmp_path), "project", "docs", f"f{i:02d}.txt") for i in range(6)]


def test_datastore_flag_maps_an_azureml_path(tmp_path):
    yml = write_job(tmp_path, input_path="azureml://datastores/blob/paths/raw/", files=0)
    os.makedirs(tmp_path / "store" / "raw")
    for i in range(3):
        (tmp_path / "store" / "raw" / f"f{i:02d}.txt").write_text("x")
    proc = pjob("run", yml, "--datastore", f"blob={tmp_path / 'store'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r[-7:] for r in output_lines(tmp_path)] == ["f00.txt", "f01.txt", "f02.txt"]


ENTRY_SCRIPT_API = """\
import argparse, os
from azureml_user.parallel_run import EntryScript
def init():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    args, _ = parser.parse_known_args()
    EntryScript().logger.info("init with %s", os.path.basename(args.model))
def run(mini_batch):
    script = EntryScript()
    script.logger.warning("h\\u00e9llo from %s", script.agent_name)
    with open(os.path.join(script.output_dir, "side_%d.txt" % os.getpid()), "a") as fh:
        fh.write("".join(p[-7:] + "\\n" for p in mini_batch))
    return [os.path.basename(args.model) + " " + os.path.basename(os.environ["MY_VAR"])] * len(mini_batch)
"""


def test_entry_script_api_arguments_environment_and_side_files(tmp_path):
    yml = write_job(tmp_path, ENTRY_SCRIPT_API)
    with open(yml, encoding="utf-8") as fh:
        text = fh.read()
    text = text.replace(
        "      type: run_function\n",
        "      type: run_function\n      program_arguments: --model ${{inputs.docs}}/f00.txt --error_threshold 5\n",
    )
    text = text.replace(
        "    mini_batch_size", "    environment_variables:\n      MY_VAR: ${{inputs.docs}}\n    mini_batch_size"
    )
    with open(yml, "w", encoding="utf-8") as fh:
        fh.write(text)
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert output_lines(tmp_path) == ["f00.txt docs"] * 6
    side = sorted(glob.glob(run_dir(tmp_path, "outputs", "out", "side_*.txt")))
    assert side, "files the script wrote to EntryScript().output_dir must be kept"
    rows = sorted(line for path in side for line in open(path, encoding="utf-8").read().splitlines())
    assert rows == [f"f{i:02d}.txt" for i in range(6)]
    logged = "".join(
        open(p, encoding="utf-8").read()
        for p in glob.glob(run_dir(tmp_path, "logs", "user", "entry_script_log", "*", "*"))
    )
    assert "init with f00.txt" in logged and "h\u00e9llo from process00" in logged


def test_replay_runs_one_mini_batch_without_touching_the_run(tmp_path):
    failing = (
        "def run(mini_batch):\n    if mini_batch[0].endswith('f02.txt'):\n        raise ValueError('bad f02')\n"
        "    return mini_batch\n"
    )
    yml = write_job(tmp_path, failing)
    assert pjob("run", yml, cwd=tmp_path).returncode == 0
    watched = [
        run_dir(tmp_path, "outputs", "out", "parallel_run_step.txt"),
        run_dir(tmp_path, "logs", "sys", "job_report", "processed_mini-batches.csv"),
        run_dir(tmp_path, "logs", "job_result.txt"),
    ]
    before = [open(p, "rb").read() for p in watched]
    replay = pjob("replay", os.path.join(tmp_path, "pjob-runs", "edge"), "--mini-batch", "1", cwd=tmp_path)
    assert replay.returncode == 1
    assert "ValueError: bad f02" in replay.stderr and "score.py" in replay.stderr
    ok = pjob("replay", os.path.join(tmp_path, "pjob-runs", "edge"), "--mini-batch", "0", cwd=tmp_path)
    assert ok.returncode == 0 and "2 succeeded" in ok.stdout
    assert [open(p, "rb").read() for p in watched] == before
