"""Chapter 8's exercise checks, on a right answer and on wrong ones."""

import pytest
from mlflow import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_course import data, gates, modeling
from mlops_course.exercises import ch08

WITHOUT_DTI = [c for c in data.NUMERIC_FEATURES if c != "debt_to_income"]


def pipeline(C=1.0):
    """The chapter's version-1 design (no debt_to_income)."""
    numbers = Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
    )
    prep = ColumnTransformer(
        [
            ("num", numbers, WITHOUT_DTI),
            ("cat", OneHotEncoder(handle_unknown="ignore"), data.CATEGORICAL_FEATURES),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(C=C, max_iter=1000))])


@pytest.fixture(scope="module")
def holdout():
    split = data.time_split(
        data.generate_applications(3_000, seed=3),
        valid_fraction=0.15,
        test_fraction=0.3,
    )
    X_train, y_train = modeling.features_and_target(split.train)
    X_hold, y_hold = modeling.features_and_target(split.test)
    champion = pipeline().fit(X_train, y_train)
    return {
        "X_train": X_train,
        "y_train": y_train,
        "context": {
            "X_hold": X_hold,
            "y_hold": y_hold,
            "champion_proba": champion.predict_proba(X_hold)[:, 1],
            "n_resamples": 200,
            "seed": 3,
        },
    }


def verdicts_for(retrain, context, bars=None):
    p = retrain.predict_proba(context["X_hold"])[:, 1]
    return {
        name: gates.evaluate_gate(
            context["y_hold"],
            p,
            context["champion_proba"],
            min_improvement=bar,
            n_resamples=context["n_resamples"],
            seed=context["seed"],
        )
        for name, bar in (bars or ch08.BARS).items()
    }


@pytest.fixture(scope="module")
def retrain(holdout):
    return pipeline(C=0.05).fit(holdout["X_train"], holdout["y_train"])


def test_retrain_gate_accepts_both_verdicts_of_the_gate(holdout, retrain):
    context = holdout["context"]
    fb = ch08.retrain_gate(retrain, verdicts_for(retrain, context), **context)
    assert fb.ok is True, fb.message


def test_retrain_gate_refuses_the_default_regularisation(holdout):
    context = holdout["context"]
    plain = pipeline().fit(holdout["X_train"], holdout["y_train"])
    fb = ch08.retrain_gate(plain, verdicts_for(plain, context), **context)
    assert fb.ok is False
    assert "the exercise regularises more strongly, C=0.05" in fb.message


def test_retrain_gate_refuses_a_gain_judged_with_the_default_bar(holdout, retrain):
    context = holdout["context"]
    bars = {"non-inferiority": -0.01, "gain": -0.01}
    fb = ch08.retrain_gate(retrain, verdicts_for(retrain, context, bars), **context)
    assert fb.ok is False
    assert fb.message == (
        "your 'gain' verdict compared the interval with -0.01; gain means "
        "min_improvement=0"
    )


def test_retrain_gate_refuses_verdicts_on_other_rows(holdout, retrain):
    context = holdout["context"]
    flipped = dict(context, y_hold=1 - context["y_hold"])  # another holdout
    wrong = verdicts_for(retrain, flipped)
    fb = ch08.retrain_gate(retrain, wrong, **context)
    assert fb.ok is False
    assert "on the same holdout rows" in fb.message


def test_retrain_gate_names_missing_verdicts(holdout, retrain):
    fb = ch08.retrain_gate(retrain, {"gain": None}, **holdout["context"])
    assert "give one verdict per bar" in fb.message


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A real MLflow registry (sqlite) with a champion at version 2."""
    root = tmp_path_factory.mktemp("registry")
    (root / "model").mkdir()
    (root / "model" / "MLmodel").write_text("flavors: {}\n")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("credit-default")
    for _ in range(2):
        client.create_model_version("credit-default", source=str(root / "model"))
    client.set_registered_model_alias("credit-default", "champion", "2")
    return client


def test_production_copy_accepts_the_copied_champion(registry):
    copy = registry.copy_model_version(
        "models:/credit-default@champion", "credit-default-prod"
    )
    registry.set_registered_model_alias("credit-default-prod", "live", copy.version)
    prod = registry.get_model_version_by_alias("credit-default-prod", "live")
    fb = ch08.production_copy(prod, client=registry, model_name="credit-default")
    assert fb.ok is True, fb.message


def test_production_copy_refuses_a_copy_of_another_version(registry):
    copy = registry.copy_model_version("models:/credit-default/1", "credit-default-old")
    registry.set_registered_model_alias("credit-default-old", "live", copy.version)
    fb = ch08.production_copy(copy, client=registry, model_name="credit-default")
    assert fb.ok is False
    assert "copy the champion into its own registered model" in fb.message


def test_production_copy_refuses_the_wrong_source_and_a_missing_alias(registry):
    stale = registry.copy_model_version(
        "models:/credit-default/1", "credit-default-prod"
    )
    fb = ch08.production_copy(stale, client=registry, model_name="credit-default")
    assert fb.ok is False  # 'live' names the earlier copy, not this one
    assert "not your copy" in fb.message
    registry.set_registered_model_alias("credit-default-prod", "live", stale.version)
    fb = ch08.production_copy(stale, client=registry, model_name="credit-default")
    assert "not the champion (models:/credit-default/2)" in fb.message
    champion = registry.get_model_version_by_alias("credit-default", "champion")
    fb = ch08.production_copy(champion, client=registry, model_name="credit-default")
    assert "copy the champion into its own registered model" in fb.message


def test_production_copy_refuses_a_version_number(registry):
    assert "expected the copy's ModelVersion" in (
        ch08.production_copy("1", client=registry, model_name="credit-default").message
    )
