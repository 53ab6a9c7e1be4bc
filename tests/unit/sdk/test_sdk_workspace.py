"""Where MLClient.from_config() runs jobs (pjob.sdk.workspace), and the
pjob.identity credentials."""

from __future__ import annotations

import os

import pytest
from pjob import identity
from pjob.sdk import MLClient, workspace
from pjob.spec import errors


def test_the_nearest_config_is_found_like_azures_config_json(tmp_path):
    files = {str(tmp_path / "a" / ".pjob" / "config.json"), str(tmp_path / "pjob-config.json")}
    assert workspace.find(str(tmp_path / "a" / "b" / "c"), files.__contains__) == str(
        tmp_path / "a" / ".pjob" / "config.json"
    )
    assert workspace.find(str(tmp_path / "x"), files.__contains__) == str(tmp_path / "pjob-config.json")
    assert workspace.find(str(tmp_path / "x"), lambda p: False) is None


def test_a_config_with_cluster_keys_submits_and_one_without_runs_here(tmp_path):
    path = str(tmp_path / ".pjob" / "config.json")
    cluster = workspace.parse('{"namespace": "ml", "context": "kind-pjob", "kubeconfig": "kube.yaml"}', path)
    assert (cluster.local, cluster.namespace, cluster.context) == (False, "ml", "kind-pjob")
    assert cluster.kubeconfig == os.path.join(str(tmp_path), "kube.yaml")  # relative to the project folder
    local = workspace.parse('{"runs_dir": "runs"}', str(tmp_path / "pjob-config.json"))
    assert local.local and local.runs_dir == os.path.join(str(tmp_path), "runs")


@pytest.mark.parametrize(
    "text,field",
    [('{"subscription_id": "x"}', "subscription_id"), ('{"namespace": 3}', "namespace"), ("[1]", ""), ("{", "")],
)
def test_a_bad_config_names_the_file_and_key(text, field):
    with pytest.raises(errors.UserError) as info:
        workspace.parse(text, "/p/pjob-config.json")
    (problem,) = info.value.problems
    assert (problem.file, problem.field) == ("/p/pjob-config.json", field)


def test_from_config_and_compute_get_describe_the_cluster(tmp_path):
    (tmp_path / "pjob-config.json").write_text('{"namespace": "team-a", "context": "prod"}')
    client = MLClient.from_config(credential=identity.DefaultAzureCredential(), path=str(tmp_path))
    assert not client.local and client.namespace == "team-a"
    compute = client.compute.get("cpu-cluster")
    assert (compute.name, compute.type) == ("cpu-cluster", "kubernetes") and "context prod" in str(compute)


def test_credentials_get_a_token_without_signing_in():
    for cls in (identity.DefaultAzureCredential, identity.InteractiveBrowserCredential, identity.AzureCliCredential):
        token = cls(exclude_shared_token_cache_credential=True).get_token("https://management.azure.com/.default")
        assert token.token and token.expires_on > 0
