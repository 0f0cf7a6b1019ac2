"""Kubernetes manifests checked offline against vendored schemas (chapter 12)."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft202012Validator

from mlops_course import manifests


def manifest() -> dict:
    graph = {"name": "classifier", "implementation": "MLFLOW_SERVER", "type": "MODEL"}
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "credit-default", "namespace": "models"},
        "spec": {
            "protocol": "v2",
            "predictors": [
                {
                    "name": "main",
                    "traffic": 95,
                    "graph": {**graph, "modelUri": "s3://models/credit/1"},
                },
                {
                    "name": "canary",
                    "traffic": 5,
                    "graph": {**graph, "modelUri": "s3://models/credit/2"},
                },
                {
                    "name": "shadow",
                    "shadow": True,
                    "graph": {**graph, "modelUri": "s3://models/credit/3"},
                },
            ],
        },
    }


def schema_errors(document) -> list[str]:
    validator = Draft202012Validator(manifests.seldon_schema())
    return [e.message for e in validator.iter_errors(document)]


def test_the_vendored_seldon_schema_accepts_a_canary_and_a_shadow():
    Draft202012Validator.check_schema(manifests.seldon_schema())
    assert schema_errors(manifest()) == []
    assert manifests.seldon_webhook_problems(manifest()) == []


def test_the_seldon_schema_refuses_broken_manifests():
    typo = copy.deepcopy(manifest())
    typo["spec"]["predictors"][2]["shadown"] = typo["spec"]["predictors"][2].pop(
        "shadow"
    )
    assert any("'shadown' was unexpected" in m for m in schema_errors(typo))
    percent = copy.deepcopy(manifest())
    percent["spec"]["predictors"][1]["traffic"] = "5%"
    assert any("'5%' is not of type 'integer'" in m for m in schema_errors(percent))
    no_graph = copy.deepcopy(manifest())
    del no_graph["spec"]["predictors"][0]["graph"]
    assert any("'graph' is a required property" in m for m in schema_errors(no_graph))


def test_the_webhook_rules_catch_what_the_schema_cannot():
    uneven = copy.deepcopy(manifest())
    uneven["spec"]["predictors"][1]["traffic"] = 10
    assert schema_errors(uneven) == []
    assert manifests.seldon_webhook_problems(uneven) == [
        "Traffic must sum to 100 for multiple predictors (got 105)"
    ]
    two_shadows = copy.deepcopy(manifest())
    two_shadows["spec"]["predictors"][1]["shadow"] = True
    two_shadows["spec"]["predictors"][0]["traffic"] = 100
    assert manifests.seldon_webhook_problems(two_shadows) == [
        "Multiple shadows are not allowed"
    ]
    alone = {"spec": {"predictors": [{"name": "s", "shadow": True}]}}
    assert manifests.seldon_webhook_problems(alone) == [
        "Shadow can not exist as only predictor"
    ]


def test_the_seldon_core_2_schema_checks_models_and_experiments():
    validator = Draft202012Validator(manifests.seldon_schema("v2"))
    Draft202012Validator.check_schema(validator.schema)
    meta = {"apiVersion": "mlops.seldon.io/v1alpha1", "metadata": {"name": "exp"}}
    model = {
        **meta,
        "kind": "Model",
        "spec": {"storageUri": "s3://m/1", "requirements": ["sklearn"]},
    }
    experiment = {
        **meta,
        "kind": "Experiment",
        "spec": {
            "default": "champion",
            "candidates": [
                {"name": "champion", "weight": 95},
                {"name": "challenger", "weight": 5},
            ],
            "mirror": {"name": "shadow", "percent": 100},
        },
    }
    assert list(validator.iter_errors(model)) == []
    assert list(validator.iter_errors(experiment)) == []
    no_uri = {**model, "spec": {"requirements": ["sklearn"]}}
    assert [e.message for e in validator.iter_errors(no_uri)] == [
        "'storageUri' is a required property"
    ]
    negative = copy.deepcopy(experiment)
    negative["spec"]["candidates"][1]["weight"] = -5
    assert any(
        "-5 is less than the minimum" in e.message
        for e in validator.iter_errors(negative)
    )
    with pytest.raises(ValueError, match="version"):
        manifests.seldon_schema("v3")


def test_schema_errors_names_each_path_for_any_vendored_schema():
    assert manifests.schema_errors(manifest(), manifests.seldon_schema()) == []
    broken = copy.deepcopy(manifest())
    broken["spec"]["predictors"][1]["traffic"] = "5%"
    del broken["kind"]
    assert manifests.schema_errors(broken, manifests.seldon_schema()) == [
        "(root): 'kind' is a required property",
        "spec.predictors.1.traffic: '5%' is not of type 'integer'",
    ]
    for name in manifests.vendored_schemas():  # every vendored schema is valid
        schema = manifests.vendored_schema(name)
        Draft202012Validator.check_schema(schema)
        assert "$comment" in schema, f"{name} must say where it comes from"
    with pytest.raises(ValueError, match="no vendored schema"):
        manifests.vendored_schema("rayjob.schema.json")
