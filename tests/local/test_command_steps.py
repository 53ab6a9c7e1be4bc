"""Command steps run as subprocesses in their code folder, with bindings
substituted and outputs created first; a failure stops everything downstream."""

import json
import os
import textwrap

from pjobrun import write

PIPELINE = textwrap.dedent(
    """
    type: pipeline
    name: cmds
    inputs:
      greeting: hello
    jobs:
      first:
        type: command
        code: ./code
        command: python first.py --greeting ${{inputs.greeting}} --out ${{outputs.result}} {extra}
        inputs:
          greeting: ${{parent.inputs.greeting}}
        outputs:
          result:
            type: uri_folder
      second:
        type: command
        code: ./code
        command: python second.py ${{inputs.data}} ${{outputs.copy}}
        environment_variables:
          SECOND_MARK: ${{inputs.data}}
        inputs:
          data: ${{parent.jobs.first.outputs.result}}
        outputs:
          copy:
            type: uri_file
    """
)

FIRST = textwrap.dedent(
    """
    import argparse, os, sys
    p = argparse.ArgumentParser()
    p.add_argument("--greeting"); p.add_argument("--out"); p.add_argument("--fail", action="store_true")
    a = p.parse_args()
    print("first ran in", os.getcwd())
    if a.fail:
        print("boom: asked to fail", file=sys.stderr)
        sys.exit(3)
    assert os.path.isdir(a.out), "output folder must exist before the command runs"
    open(os.path.join(a.out, "greeting.txt"), "w").write(a.greeting + "\\n")
    """
)

SECOND = textwrap.dedent(
    """
    import os, sys, json
    src, dst = sys.argv[1], sys.argv[2]
    text = open(os.path.join(src, "greeting.txt")).read()
    open(dst, "w").write(json.dumps({"text": text, "env": os.environ["SECOND_MARK"], "cwd": os.getcwd()}))
    """
)


def _setup(tmp_path, extra=""):
    write(tmp_path / "code" / "first.py", FIRST)
    write(tmp_path / "code" / "second.py", SECOND)
    return write(tmp_path / "pipeline.yml", PIPELINE.replace("{extra}", extra))


def test_command_steps_run_in_order_with_bindings(tmp_path, pjob):
    yml = _setup(tmp_path)
    proc = pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    run = tmp_path / "runs" / "cmds"
    first_out = run / "steps" / "first" / "outputs" / "result"
    assert (first_out / "greeting.txt").read_text() == "hello\n"
    copy = json.loads((run / "steps" / "second" / "outputs" / "copy").read_text())
    assert copy["text"] == "hello\n"
    assert copy["env"] == str(first_out)
    assert copy["cwd"] == str(tmp_path / "code")
    assert "first ran in" in (run / "steps" / "first" / "logs" / "stdout.txt").read_text()
    assert "Succeeded" in proc.stdout
    state = json.loads((run / "state.json").read_text())
    assert {k: v["status"] for k, v in state["steps"].items()} == {"first": "Succeeded", "second": "Succeeded"}


def test_failed_command_fails_pipeline_and_nothing_downstream_starts(tmp_path, pjob):
    yml = _setup(tmp_path, extra="--fail")
    proc = pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 1, proc.stderr + proc.stdout
    run = tmp_path / "runs" / "cmds"
    assert not (run / "steps" / "second" / "logs").exists()
    result = (run / "steps" / "first" / "logs" / "job_result.txt").read_text()
    assert "exited with code 3" in result and "boom: asked to fail" in result
    assert "second [command]: Skipped" in proc.stdout
    assert "step first it reads did not succeed" in proc.stdout  # engine.dag's reason, as the operator says it


def test_rerun_skips_succeeded_steps(tmp_path, pjob):
    yml = _setup(tmp_path)
    assert pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 0
    marker = tmp_path / "runs" / "cmds" / "steps" / "first" / "outputs" / "result" / "greeting.txt"
    marker.write_text("changed\n")
    proc = pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0
    assert "already succeeded" in proc.stderr
    assert marker.read_text() == "changed\n"  # first did not run again
    proc = pjob("run", yml, "--runs-dir", tmp_path / "runs", "--fresh")
    assert proc.returncode == 0 and marker.read_text() == "hello\n"


def test_command_timeout_is_enforced(tmp_path, pjob):
    write(tmp_path / "code" / "slow.py", "import time; time.sleep(60)\n")
    yml = write(
        tmp_path / "p.yml",
        "type: pipeline\nname: slow\njobs:\n  s:\n    type: command\n    code: ./code\n    command: python slow.py\n    limits:\n      timeout: 1\n",
    )
    proc = pjob("run", yml, "--runs-dir", tmp_path / "runs", timeout=30)
    assert proc.returncode == 1
    assert "limits.timeout" in (tmp_path / "runs" / "slow" / "steps" / "s" / "logs" / "job_result.txt").read_text()


def test_bad_input_exits_2_without_traceback(tmp_path, pjob):
    yml = write(tmp_path / "p.yml", "type: pipeline\njobs:\n  s:\n    type: command\n    commandd: echo hi\n")
    proc = pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 2
    assert f"{yml}:5: jobs.s.commandd: unknown key 'commandd'; did you mean 'command'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "runs")
