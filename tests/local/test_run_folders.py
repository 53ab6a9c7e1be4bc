"""One run folder per job: two different pipeline files with the same
display_name in one runs dir each get their own folder (the second is told
which), and each resumes only its own run."""

import yaml
from pjobrun import run_pjob, write

SCRIPT = "def run(mini_batch):\n    return [p.rsplit('/', 1)[-1] for p in mini_batch]\n"


def _pipeline(folder, names):
    for name in names:
        write(folder / "in" / name, name)
    write(folder / "code" / "s.py", SCRIPT)
    job = {
        "type": "pipeline",
        "display_name": "nightly-scoring",
        "jobs": {
            "score": {
                "type": "parallel",
                "inputs": {"files": {"type": "uri_folder", "path": "./in"}},
                "outputs": {"out": {"type": "uri_file"}},
                "input_data": "${{inputs.files}}",
                "mini_batch_size": "1",
                "max_concurrency_per_instance": 1,
                "task": {"code": "./code", "entry_script": "s.py", "append_row_to": "${{outputs.out}}"},
            }
        },
    }
    return write(folder / "pipeline.yml", yaml.safe_dump(job, sort_keys=False))


def test_two_pipelines_with_one_display_name_get_their_own_run_folders(tmp_path):
    first = _pipeline(tmp_path / "team-a", ["a1.txt", "a2.txt"])
    second = _pipeline(tmp_path / "team-b", ["b1.txt"])
    runs = tmp_path / "runs"
    proc = run_pjob("run", first, "--runs-dir", runs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    own = runs / "nightly-scoring"
    assert (own / "steps" / "score" / "outputs" / "out").read_text() == "a1.txt\na2.txt\n"

    proc = run_pjob("run", second, "--runs-dir", runs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    others = [p for p in runs.iterdir() if p.name.startswith("nightly-scoring-")]
    assert len(others) == 1
    assert f"{own} holds the run of {first}" in proc.stderr and str(others[0]) in proc.stderr
    assert (others[0] / "steps" / "score" / "outputs" / "out").read_text() == "b1.txt\n"
    assert (own / "steps" / "score" / "outputs" / "out").read_text() == "a1.txt\na2.txt\n"  # untouched

    for yml in (first, second):  # each resumes its own run
        proc = run_pjob("run", yml, "--runs-dir", runs)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "already succeeded" in proc.stderr
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith(".")) == sorted(
        ["nightly-scoring", others[0].name]
    )
