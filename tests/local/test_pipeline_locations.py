"""Where inputs are read from and outputs written to, through real `pjob run`:
explicit local paths (relative to the YAML), azureml://datastores URIs (mapped
to <runs-dir>/datastores/<ds> or --datastore NAME=PATH), ${{parent.outputs.x}},
the default <run>/steps/<step>/outputs/<name>, and <run>/outputs/<name> for
pipeline-level outputs without a path."""

import yaml
from pjobrun import run_pjob, write

SCRIPT = "def init():\n    pass\n\ndef run(mini_batch):\n    return [p.rsplit('/', 1)[-1] for p in mini_batch]\n"


def _pipeline(tmp_path, input_path, output, pipeline_outputs=None):
    """``output`` is the step output: a mapping or a ${{parent.outputs.x}} string."""
    write(tmp_path / "code" / "names.py", SCRIPT)
    job = {
        "type": "pipeline",
        "name": "where",
        "jobs": {
            "names": {
                "type": "parallel",
                "inputs": {"files": {"type": "uri_folder", "path": input_path}},
                "outputs": {"out": output},
                "input_data": "${{inputs.files}}",
                "mini_batch_size": "2",
                "max_concurrency_per_instance": 1,
                "task": {"code": "./code", "entry_script": "names.py", "append_row_to": "${{outputs.out}}"},
            }
        },
    }
    if pipeline_outputs:
        job["outputs"] = pipeline_outputs
    return write(tmp_path / "pipeline.yml", yaml.safe_dump(job, sort_keys=False))


def _files(folder, names=("a.txt", "b.txt", "c.txt")):
    for name in names:
        write(folder / name, name)


def test_explicit_relative_output_path_is_honoured(tmp_path):
    _files(tmp_path / "in")
    yml = _pipeline(tmp_path, "./in", {"type": "uri_file", "path": "./results/names.txt"})
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results" / "names.txt").read_text() == "a.txt\nb.txt\nc.txt\n"


def test_datastore_uris_map_to_the_runs_dir_or_to_given_folders(tmp_path):
    _files(tmp_path / "runs" / "datastores" / "default" / "raw")
    yml = _pipeline(
        tmp_path,
        "azureml://datastores/default/paths/raw",
        {"type": "uri_folder", "path": "azureml://datastores/archive/paths/${{name}}/out"},
    )
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "runs" / "datastores" / "archive" / "where" / "out" / "parallel_run_step.txt"
    assert out.read_text() == "a.txt\nb.txt\nc.txt\n"
    proc = run_pjob(
        "run", yml, "--runs-dir", tmp_path / "runs", "--fresh", "--datastore", f"archive={tmp_path / 'elsewhere'}"
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "elsewhere" / "where" / "out" / "parallel_run_step.txt").read_text() == "a.txt\nb.txt\nc.txt\n"


def test_parent_outputs_and_default_locations(tmp_path):
    _files(tmp_path / "in", ["x.bin", "y.bin"])
    yml = _pipeline(tmp_path, "./in", "${{parent.outputs.final}}", {"final": {"type": "uri_folder"}})
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    # pipeline-level outputs have their own place, beside (not inside) the steps' folders
    assert (tmp_path / "runs" / "where" / "outputs" / "final" / "parallel_run_step.txt").read_text() == "x.bin\ny.bin\n"
    assert not (tmp_path / "runs" / "where" / "steps" / "outputs").exists()


def test_a_step_named_outputs_and_a_pipeline_output_named_like_its_folders_do_not_collide(tmp_path):
    _files(tmp_path / "in", ["x.bin", "y.bin"])
    yml = _pipeline(tmp_path, "./in", "${{parent.outputs.work}}", {"work": {"type": "uri_folder"}})
    text = yml.read_text().replace("  names:\n", "  outputs:\n")
    yml.write_text(text)
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = tmp_path / "runs" / "where"
    assert (run / "outputs" / "work" / "parallel_run_step.txt").read_text() == "x.bin\ny.bin\n"
    assert (run / "steps" / "outputs" / "logs" / "job_result.txt").read_text().startswith("Succeeded")
    assert not (run / "steps" / "outputs" / "work" / "parallel_run_step.txt").exists()


def test_bad_datastore_flag_is_a_usage_error(tmp_path):
    _files(tmp_path / "in")
    yml = _pipeline(tmp_path, "./in", {"type": "uri_folder"})
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs", "--datastore", "nopath")
    assert proc.returncode == 2 and "--datastore" in proc.stderr and "Traceback" not in proc.stderr


def test_changing_the_input_of_an_unfinished_run_needs_fresh(tmp_path):
    _files(tmp_path / "in")
    _files(tmp_path / "in2")
    yml = _pipeline(tmp_path, "./in", {"type": "uri_folder"})
    state = tmp_path / "runs" / "where" / "state.json"
    assert run_pjob("run", yml, "--runs-dir", tmp_path / "runs").returncode == 0
    state.write_text(state.read_text().replace('"Succeeded"', '"Running"'))  # as if interrupted
    yml = _pipeline(tmp_path, "./in2", {"type": "uri_folder"})
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 2 and "--fresh" in proc.stderr, proc.stderr


def test_a_malformed_datastore_uri_names_the_file_line_and_field(tmp_path):
    yml = _pipeline(tmp_path, "azureml://datastores/default/nopaths", {"type": "uri_folder"})
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 2, proc.stderr
    line = next(i for i, text in enumerate(yml.read_text().splitlines(), 1) if text.strip() == "files:")
    assert f"{yml}:{line}: jobs.names.inputs.files:" in proc.stderr and "azureml://datastores/<" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_single_brace_name_from_sdk_f_strings_is_expanded_in_paths(tmp_path):
    _files(tmp_path / "in")
    yml = _pipeline(
        tmp_path, "./in", {"type": "uri_folder", "path": "azureml://datastores/${default_datastore}/paths/${name}/out"}
    )
    proc = run_pjob("run", yml, "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr
    assert (
        tmp_path / "runs" / "datastores" / "default" / "where" / "out" / "parallel_run_step.txt"
    ).read_text() == "a.txt\nb.txt\nc.txt\n"
