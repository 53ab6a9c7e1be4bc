"""Every step of a pipeline runs when several become ready at once (a diamond: a -> b, c -> d),
through the real `pjob run`: `pjob run` runs one step at a time, and a step that was ready beside
another must still run next, not be dropped while the run says Succeeded."""

from pjobrun import run_pjob, write

DIAMOND = """\
type: pipeline
display_name: diamond
jobs:
  a: {type: command, command: "echo a > ${{outputs.o}}/a.txt", outputs: {o: {type: uri_folder}}}
  b:
    type: command
    inputs: {x: "${{parent.jobs.a.outputs.o}}"}
    command: "cat ${{inputs.x}}/a.txt > ${{outputs.o}}/b.txt && echo b >> ${{outputs.o}}/b.txt"
    outputs: {o: {type: uri_folder}}
  c:
    type: command
    inputs: {x: "${{parent.jobs.a.outputs.o}}"}
    command: "cat ${{inputs.x}}/a.txt > ${{outputs.o}}/c.txt && echo c >> ${{outputs.o}}/c.txt"
    outputs: {o: {type: uri_folder}}
  d:
    type: command
    inputs: {b: "${{parent.jobs.b.outputs.o}}", c: "${{parent.jobs.c.outputs.o}}"}
    command: "cat ${{inputs.b}}/b.txt ${{inputs.c}}/c.txt > ${{outputs.o}}/d.txt"
    outputs: {o: {type: uri_folder}}
"""


def test_steps_ready_together_all_run(tmp_path):
    job = write(tmp_path / "p.yml", DIAMOND)
    proc = run_pjob("run", job, "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in "abcd":
        assert f"{step} [command]: Succeeded" in proc.stdout, proc.stdout
    d = tmp_path / "runs" / "diamond" / "steps" / "d" / "outputs" / "o" / "d.txt"
    assert d.read_text().splitlines() == ["a", "b", "a", "c"]
