"""run_local and MLClient: an SDK-built pipeline runs through the same local
driver as `pjob run` (real processes, real entry scripts), and the result
carries status, output paths and the job_result text."""

import os

import pytest
from pjob.sdk import Input, MLClient, Output, RunFunction, command, parallel_run_function, pipeline, run_local


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


SCRIPT = """\
import os

def init():
    pass

def run(mini_batch):
    out = []
    for path in mini_batch:
        name = os.path.basename(path)
        if name.startswith("bad"):
            raise ValueError("cannot score " + name)
        out.append(name + " " + str(len(open(path).read())))
    return out
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    write(tmp_path / "src" / "score.py", SCRIPT)
    for name, text in [("a.txt", "aaa"), ("b.txt", "bb"), ("c.txt", "c")]:
        write(tmp_path / "data" / name, text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def build(threshold=-1, display_name="sdk-run"):
    score = parallel_run_function(
        name="score",
        inputs=dict(files=Input(type="uri_folder")),
        outputs=dict(scores=Output(type="uri_file")),
        input_data="${{inputs.files}}",
        mini_batch_size="1",
        max_concurrency_per_instance=1,
        mini_batch_error_threshold=threshold,
        retry_settings=dict(max_retries=0, timeout=30),
        task=RunFunction(code="./src", entry_script="score.py", append_row_to="${{outputs.scores}}"),
    )

    @pipeline(display_name=display_name)
    def p(raw):
        copy = command(
            command="mkdir -p ${{outputs.o}} && cp ${{inputs.i}}/* ${{outputs.o}}/",
            inputs={"i": Input(type="uri_folder")},
            outputs={"o": Output()},
        )
        copy.inputs.i = raw
        scored = score(files=copy.outputs.o)
        return {"scores": scored.outputs.scores}

    return p(raw=Input(path="./data"))


def test_run_local_succeeds_with_outputs_and_result_text(project):
    result = run_local(build(), runs_dir=str(project / "runs"))
    assert result.status == "Succeeded", result.job_result
    assert open(result.outputs["scores"]).read().splitlines() == ["a.txt 3", "b.txt 2", "c.txt 1"]
    assert result.run_dir == str(project / "runs" / "sdk-run")
    assert "scored: Succeeded" in result.job_result and "3 total, 3 succeeded" in result.job_result
    assert "copy: Succeeded" in result.job_result


def test_run_local_reports_a_failed_step(project):
    write(project / "data" / "bad.txt", "x")
    result = run_local(build(threshold=0, display_name="sdk-fail"), runs_dir=str(project / "runs"))
    assert result.status == "Failed"
    assert (
        "scored: Failed" in result.job_result
        and "cannot score bad.txt"
        in open(os.path.join(result.run_dir, "steps", "scored", "logs", "job_error.txt")).read()
    )


def test_ml_client_local_and_yaml_path(project):
    built = build(display_name="via-client")
    client = MLClient(local=True, runs_dir=str(project / "runs"))
    result = client.jobs.create_or_update(built, experiment_name="exp", show_progress=True)
    assert result.status == "Succeeded" and built.experiment_name == "exp" and result.name == "via-client"
    client.jobs.stream(result.name)  # the run already finished
    built.dump(project / "job.yml")
    again = run_local(str(project / "job.yml"), runs_dir=str(project / "runs2"))
    assert again.status == "Succeeded" and "scores" not in again.outputs  # a YAML path: step outputs only
    assert open(again.outputs["scored.scores"]).read() == open(result.outputs["scores"]).read()
