"""@pipeline: steps named as Azure names them, outputs bound with
${{parent.jobs...}}, pipeline inputs/outputs/settings, and one code path -
the job is a pjob.spec.models.PipelineJob, dumped YAML loads back equal."""

import os

import pytest
from pjob.sdk import Input, Output, RunFunction, command, dsl, load_component, parallel_run_function, pipeline
from pjob.spec import errors, load, models

COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: prep
inputs:
  raw:
    type: uri_folder
  rate:
    type: number
    default: 0.5
outputs:
  files:
    type: uri_folder
code: ./
command: python prep.py --raw ${{inputs.raw}} --rate ${{inputs.rate}} --out ${{outputs.files}}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (the cwd) with a component, its code and an entry script."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "prep.yml").write_text(COMPONENT)
    (tmp_path / "src" / "prep.py").write_text("print('prep')\n")
    (tmp_path / "src" / "score.py").write_text("def init():\n    pass\n\ndef run(mb):\n    return mb\n")
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def score_fn():
    return parallel_run_function(
        name="score",
        inputs=dict(files=Input(type="uri_folder")),
        outputs=dict(scores=Output(type="uri_file")),
        input_data="${{inputs.files}}",
        task=RunFunction(code="./src", entry_script="score.py", append_row_to="${{outputs.scores}}"),
    )


def test_steps_are_wired_and_named_like_azure(project):
    prep = load_component(source="./src/prep.yml")
    score = score_fn()

    @pipeline(default_compute="cpu-cluster", description="demo")
    def demo(raw, rate=0.25):
        prepared = prep(raw=raw, rate=rate)
        scored = score(files=prepared.outputs.files)
        prep(raw=raw)  # anonymous: named after the variable of the same component, with a suffix
        return {"final": scored.outputs.scores}

    job = demo(raw=Input(path="./data"))
    assert list(job.jobs) == ["prepared", "scored", "prepared_1"]  # variable names, as in Azure's runs of its samples
    assert job.settings.default_compute == "cpu-cluster"
    assert job.display_name == "demo" and job.description == "demo"
    data = job.to_dict(str(project))
    assert data["inputs"] == {"raw": {"type": "uri_folder", "path": "./data"}, "rate": 0.25}
    assert data["outputs"] == {"final": {"type": "uri_file"}}
    assert data["jobs"]["prepared"] == {
        "type": "command",
        "component": "./src/prep.yml",
        "inputs": {"raw": "${{parent.inputs.raw}}", "rate": "${{parent.inputs.rate}}"},
    }
    assert data["jobs"]["scored"]["inputs"] == {
        "files": {"type": "uri_folder", "path": "${{parent.jobs.prepared.outputs.files}}"}
    }
    assert data["jobs"]["scored"]["outputs"] == {"scores": "${{parent.outputs.final}}"}
    assert data["jobs"]["prepared_1"]["inputs"] == {"raw": "${{parent.inputs.raw}}"}
    model = job.to_model(str(project))
    assert isinstance(model, models.PipelineJob) and isinstance(model.jobs["scored"], models.ParallelStep)


def test_dump_writes_yaml_that_loads_back_to_the_same_model(project):
    prep = load_component(source="./src/prep.yml")
    score = score_fn()

    @dsl.pipeline(experiment_name="exp", tags={"team": "ml"})
    def demo(raw):
        prepared = prep(raw=raw)
        prepared.outputs.files.type = "mltable"
        scored = score(files=prepared.outputs.files)
        scored.inputs.files.mode = "eval_mount"
        return {"final": scored.outputs.scores}

    job = demo(raw=Input(type="uri_folder", path="./data", mode="ro_mount"))
    job.outputs.final.type = "uri_file"
    job.outputs.final.path = "./results/final.txt"
    (project / "out").mkdir()
    text = job.dump(project / "out" / "job.yml")
    assert "path: ../data" in text and "code: ../src" in text and "component: ../src/prep.yml" in text
    loaded = load.load_job(str(project / "out" / "job.yml"))
    assert not loaded.problems
    assert loaded.job == job.to_model(str(project / "out"))
    assert loaded.job.outputs["final"].path == "../results/final.txt"
    assert loaded.job.jobs["prepared"].outputs["files"].type == "mltable"
    assert loaded.job.jobs["scored"].inputs["files"].mode == "eval_mount"
    assert loaded.job.experiment_name == "exp" and loaded.job.tags == {"team": "ml"}
    job.validate()  # every check `pjob validate` runs


def test_inline_command_step_and_literals(project):
    @pipeline()
    def p(n: int = 3):
        cmd = command(
            command="python prep.py --n ${{inputs.n}} --o ${{outputs.o}}",
            code="./src",
            inputs={"n": 1, "tag": "x"},
            outputs={"o": Output()},
            environment_variables={"A": "b"},
            timeout=30,
            instance_count=1,
        )
        cmd.inputs.n = n
        return {"o": cmd.outputs.o}

    data = p().to_dict(str(project))
    assert data["inputs"] == {"n": 3}
    step = data["jobs"]["cmd"]
    assert step["code"] == "./src" and step["limits"] == {"timeout": 30} and step["environment_variables"] == {"A": "b"}
    assert step["inputs"] == {"n": "${{parent.inputs.n}}", "tag": "x"}
    assert step["outputs"] == {"o": "${{parent.outputs.o}}"}


def test_mistakes_fail_naming_what_to_fix(project):
    score = score_fn()
    outside = score(files="./data")

    @pipeline()
    def uses_outside():
        return {"x": score(files=outside.outputs.scores).outputs.scores}

    with pytest.raises(ValueError, match="not part of this pipeline"):
        uses_outside().to_dict()

    @pipeline()
    def returns_wrong():
        score(files="./data")
        return {"x": "./somewhere"}

    with pytest.raises(TypeError, match="returned 'x' must map to a step output"):
        returns_wrong()

    @pipeline()
    def dup():
        a = score(files="./data")
        b = score(files="./data")
        a.name = b.name = "same"
        return {"a": a.outputs.scores, "b": b.outputs.scores}

    with pytest.raises(ValueError, match="two steps are named 'same'"):
        dup()

    @pipeline()
    def anonymous():
        score(files="./data")
        score(files="./data")

    assert list(anonymous().jobs) == ["score", "score_1"]

    @pipeline()
    def inner(x):
        score(files=x)

    @pipeline()
    def outer(x):
        inner(x=x)

    with pytest.raises(NotImplementedError, match="nested pipelines"):
        outer(x="./data")
    with pytest.raises(TypeError, match="'xx'.*did you mean 'x'"):
        inner(xx="./data")
    with pytest.raises(TypeError, match="argument 'x' must be an Input or a literal"):
        inner(x=object())
    with pytest.raises(TypeError, match="'default_compte'.*did you mean 'default_compute'"):
        pipeline(default_compte="x")
    job = inner(x="./data")
    with pytest.raises(ValueError, match="default_compte"):
        job.settings.default_compte = "x"
    with pytest.raises(AttributeError, match="did you mean 'display_name'"):
        job.display_nme = "x"
    with pytest.raises(AttributeError, match="no output 'y'"):
        _ = job.outputs.y


def test_semantic_problems_surface_as_user_errors(project):
    score = parallel_run_function(
        inputs=dict(files=Input()),
        input_data="${{inputs.files}}",
        task=RunFunction(code="./missing", entry_script="score.py"),
    )

    @pipeline()
    def p(x):
        score(files=x)

    job = p(x=Input(path="./nowhere"))
    with pytest.raises(errors.UserError) as err:
        job.validate()
    text = str(err.value)
    assert "code folder" in text and "input path" in text
    assert os.path.exists(project)  # nothing was written


def test_which_steps_join_the_pipeline(project):
    outside = score_fn()(files="./data")

    @pipeline()
    def q():
        template = score_fn()  # defined here and called: the template itself is not a step
        first = template(files="./data")
        defined = command(command="echo ${{inputs.x}}", inputs={"x": 1})  # noqa: F841  never called: kept as a step, named after the variable
        outside.display_name = "made before q ran: not a step of q"
        return {"a": first.outputs.scores, "b": first.outputs.scores}

    with pytest.raises(ValueError, match="returned twice"):
        q()

    @pipeline()
    def r():
        template = score_fn()
        first = template(files="./data")
        defined = command(command="echo ${{inputs.x}}", inputs={"x": 1})  # noqa: F841  a step named after the variable
        outside.display_name = "x"
        return {"a": first.outputs.scores}

    assert list(r().jobs) == ["first", "defined"]


def test_a_path_given_as_a_string_becomes_data_of_the_bound_type(project):
    score = score_fn()

    @pipeline()
    def p(files, label="x"):
        score(files=files)

    data = p(files="./data").to_dict(str(project / "sub"))
    assert data["inputs"] == {"files": {"type": "uri_folder", "path": "../data"}, "label": "x"}


def test_standalone_step_runs_as_a_one_step_pipeline(project):
    from pjob.sdk import client

    job = client.as_pipeline(score_fn()(files="./data"))
    assert list(job.jobs) == ["score"]
    job.validate()


def test_the_oj_sales_notebook_shape(project):
    """Azure's many-models sample: partition_keys, string inputs, run-level
    overrides after the call, a datastore output path, no return value."""
    from pjob.sdk.entities import Environment, ResourceConfiguration

    (project / "src" / "partition.yml").write_text(
        "type: command\nname: partition_data\ninputs:\n  data_source: {type: uri_file}\n  partition_keys: {type: string}\n"
        "outputs:\n  tabular_output_data: {type: mltable}\ncode: ./\ncommand: python prep.py ${{inputs.data_source}} ${{inputs.partition_keys}} ${{outputs.tabular_output_data}}\n"
    )
    partition_data = load_component(source="./src/partition.yml")
    train = parallel_run_function(
        name="train_many_models",
        tags={"example": "oj"},
        inputs=dict(
            data_source=Input(type="mltable", mode="direct"),
            drop_cols=Input(type="string", description="split by comma"),
        ),
        outputs=dict(
            model_perf=Output(type="uri_file", mode="rw_mount"), model_folder=Output(type="uri_folder", mode="rw_mount")
        ),
        input_data="${{inputs.data_source}}",
        partition_keys=["Store", "Brand"],
        instance_count=2,
        max_concurrency_per_instance=1,
        error_threshold=-1,
        mini_batch_error_threshold=5,
        retry_settings=dict(max_retries=2, timeout=60),
        logging_level="DEBUG",
        environment_variables={"AZUREML_PARALLEL_EXAMPLE": "1a_sdk"},
        task=RunFunction(
            code="./src",
            entry_script="score.py",
            environment=Environment(image="img", conda_file="./src/prep.py"),
            program_arguments="--drop_cols ${{inputs.drop_cols}} --model_folder ${{outputs.model_folder}} ",
            append_row_to="${{outputs.model_perf}}",
        ),
    )

    @pipeline(display_name="parallel job for oj many model training")
    def partition_job_in_pipeline(pipeline_input_data):
        partition_job = partition_data(data_source=pipeline_input_data, partition_keys="Store,Brand")
        parallel_train = train(data_source=partition_job.outputs.tabular_output_data, drop_cols="Revenue,Advert")
        parallel_train.resources.instance_count = 3
        parallel_train.max_concurrency_per_instance = 2
        parallel_train.mini_batch_error_threshold = 10
        parallel_train.outputs.model_perf.path = (
            "azureml://datastores/workspaceblobstore/paths/${name}/my_append_output.csv"
        )
        parallel_train.tags.update({"stage": "train"})

    (project / "data" / "oj.csv").write_text("Store,Brand\n1,a\n")
    my_job = partition_job_in_pipeline(
        pipeline_input_data=Input(path="./data/oj.csv", type="uri_file", mode="ro_mount")
    )
    my_job.tags.update({"team": "forecast"})
    my_job.settings.default_compute = "cpu-cluster"
    my_job.jobs["parallel_train"].resources = ResourceConfiguration(instance_count=4)
    data = my_job.to_dict(str(project))
    step = data["jobs"]["parallel_train"]
    assert step["resources"] == {"instance_count": 4}
    assert step["tags"] == {"example": "oj", "stage": "train"} and data["tags"] == {"team": "forecast"}
    assert (step["max_concurrency_per_instance"], step["mini_batch_error_threshold"], step["partition_keys"]) == (
        2,
        10,
        ["Store", "Brand"],
    )
    assert step["inputs"]["drop_cols"] == "Revenue,Advert"
    assert step["inputs"]["data_source"] == {
        "type": "mltable",
        "path": "${{parent.jobs.partition_job.outputs.tabular_output_data}}",
        "mode": "direct",
    }
    assert step["outputs"]["model_perf"] == {
        "type": "uri_file",
        "mode": "rw_mount",
        "path": "azureml://datastores/workspaceblobstore/paths/${name}/my_append_output.csv",
    }
    assert data["jobs"]["partition_job"]["inputs"] == {
        "data_source": "${{parent.inputs.pipeline_input_data}}",
        "partition_keys": "Store,Brand",
    }
    assert "outputs" not in data  # nothing returned
    my_job.validate()


def test_input_annotations_type_string_arguments(project):
    score = score_fn()

    @pipeline()
    def p(files: Input(type="mltable", mode="direct"), n: Input(type="integer", default=4) = None):
        score(files=files)

    data = p(files="./data").to_dict(str(project))
    assert data["inputs"] == {"files": {"type": "mltable", "path": "./data", "mode": "direct"}, "n": 4}


def test_jobs_and_steps_can_be_copied(project):
    import copy

    prep = load_component(source="./src/prep.yml")
    score = score_fn()

    @pipeline()
    def demo(raw):
        prepared = prep(raw=raw)
        return {"final": score(files=prepared.outputs.files).outputs.scores}

    job = demo(raw=Input(path="./data"))
    twin = copy.deepcopy(job)
    assert twin.to_dict(str(project)) == job.to_dict(str(project))
    twin.jobs["score"].mini_batch_size = "3"
    assert "mini_batch_size" not in job.to_dict()["jobs"]["score"]
    assert copy.copy(score).component_name == "score"
