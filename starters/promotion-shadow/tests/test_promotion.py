"""Staging, gate, production, shadow manifest and rollback on a real MLflow registry.

The tests run in order on one registry (SQLite in a temp folder): each step is
what a team would do next.
"""

import copy
import os

import mlflow
import pytest
from deploy.render import problems, render
from mlflow import MlflowClient
from promote import NAME, promote, rollback, stage

from mlops_course.data import drift_scenario, generate_applications
from mlops_course.gates import PromotionRefused, check_promotable
from mlops_course.modeling import features_and_target, make_model


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    where = tmp_path_factory.mktemp("registry")
    here = os.getcwd()
    os.chdir(where)  # MLflow keeps the artifacts under the working folder
    uri = f"sqlite:///{where / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    yield MlflowClient(uri)
    os.chdir(here)


@pytest.fixture(scope="module")
def holdout():
    return drift_scenario("none", 3_000, seed=11).frame


def fitted(kind, n_rows, seed):
    frame = generate_applications(n_rows, seed=seed)
    return make_model(kind, seed=0).fit(*features_and_target(frame))


def aliases(client):
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def test_the_first_model_goes_to_production(client, holdout):
    version, passed = stage(fitted("logreg", 3_000, 1), holdout, client)
    assert (version, passed) == ("1", True)
    assert promote(holdout, client) == "1"
    assert aliases(client) == {"production": "1"}


def test_a_worse_model_is_refused_and_never_staged(client, holdout):
    version, passed = stage(fitted("baseline", 3_000, 2), holdout, client)
    assert (version, passed) == ("2", False)
    tags = client.get_model_version(NAME, "2").tags
    assert "improvement" in tags["gate.failed_checks"]
    with pytest.raises(PromotionRefused, match="has not passed"):
        check_promotable("2", tags, champion_version="1", holdout_hash="x")
    with pytest.raises(PromotionRefused, match="nothing is staged"):
        promote(holdout, client)


def test_a_good_challenger_is_staged_and_shadowed(client, holdout):
    version, passed = stage(fitted("logreg", 4_000, 3), holdout, client)
    assert (version, passed) == ("3", True)
    manifest = render(client)
    production, shadow = manifest["spec"]["predictors"]
    assert shadow["shadow"] is True and "traffic" not in shadow
    assert shadow["graph"]["modelUri"] == client.get_model_version(NAME, "3").source
    assert production["graph"]["modelUri"] == client.get_model_version(NAME, "1").source
    assert problems(manifest) == []


def test_a_verdict_on_another_holdout_does_not_promote(client, holdout):
    with pytest.raises(PromotionRefused, match="another holdout"):
        promote(holdout.iloc[:-10], client)
    assert aliases(client) == {"production": "1", "staging": "3"}


def test_promotion_moves_production_and_ends_the_shadow(client, holdout):
    assert promote(holdout, client) == "3"
    assert aliases(client) == {"production": "3"}
    manifest = render(client)
    assert [p["name"] for p in manifest["spec"]["predictors"]] == ["production"]
    assert problems(manifest) == []


def test_rollback_restores_the_previous_version_and_marks_the_bad_one(client):
    assert rollback("complaints from branch 12", client) == "1"
    assert aliases(client) == {"production": "1"}
    assert client.get_model_version(NAME, "3").tags["rolled_back"]


def test_the_manifest_check_refuses_what_seldon_would_refuse(client):
    manifest = render(client)
    twin = copy.deepcopy(manifest["spec"]["predictors"][0])
    twin["traffic"] = 50
    broken = copy.deepcopy(manifest)
    broken["spec"]["predictors"].append(twin)  # same name, traffic 150
    found = problems(broken)
    assert any("Duplicate predictor name" in p for p in found)
    assert any("sum to 100" in p for p in found)
    del broken["spec"]["predictors"][0]["graph"]["name"]
    assert any("'name' is a required property" in p for p in problems(broken))
