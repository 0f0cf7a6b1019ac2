"""Chapter 3's exercise checks, on a right answer and on wrong ones."""

import mlflow
import pandas as pd
import pytest

from mlops_course import data, modeling, tracking
from mlops_course.exercises import ch03


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A parent run with three children, in a store laid out as the server's."""
    tracking.quiet_mlflow()
    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(
        "credit-default", artifact_location=(store / "artifacts").as_uri()
    )
    parent = client.create_run(experiment, run_name="sweep").info.run_id
    for c, auc in [(0.01, 0.70), (0.1, 0.72), (1.0, 0.71)]:
        child = client.create_run(
            experiment, tags={"mlflow.parentRunId": parent}
        ).info.run_id
        client.log_param(child, "model.C", c)
        client.log_metric(child, "valid_roc_auc", auc)
        client.set_terminated(child)
    client.set_terminated(parent)
    mlflow.set_tracking_uri(uri)
    try:
        runs = mlflow.search_runs(
            experiment_names=["credit-default"],
            filter_string=f"tags.mlflow.parentRunId = '{parent}'",
            order_by=["metrics.valid_roc_auc DESC"],
        )
        everything = mlflow.search_runs(experiment_names=["credit-default"])
    finally:
        mlflow.set_tracking_uri(None)
    return store, parent, runs, everything


def test_restarted_store_accepts_the_children_best_first(sweep):
    store, parent, runs, _ = sweep
    fb = ch03.restarted_store(runs, store=store, sweep_id=parent, best_c=0.1)
    assert fb.ok is True, fb.message
    fb = ch03.restarted_store(runs.iloc[::-1], store=store, sweep_id=parent, best_c=0.1)
    assert fb.message == (
        "your first row has C = 0.01, but the best C of the sweep is 0.1: order "
        "by metrics.valid_roc_auc DESC"
    )


def test_restarted_store_refuses_the_parent_among_the_children(sweep):
    store, parent, _, everything = sweep
    fb = ch03.restarted_store(everything, store=store, sweep_id=parent, best_c=0.1)
    assert fb.ok is False
    assert fb.message == (
        "1 of your runs are not children of the sweep (the parent run, or other "
        "experiments): filter on tags.mlflow.parentRunId"
    )


@pytest.fixture(scope="module")
def X_train():
    split = data.time_split(data.generate_applications(1_000, seed=1))
    return modeling.features_and_target(split.train)[0]


def test_fingerprint_changes_accepts_the_truth(X_train):
    truth = pd.Series([True, False, True, True, True])
    fb = ch03.fingerprint_changes(truth, X_train=X_train)
    assert fb.ok is True, fb.message


def test_fingerprint_changes_refuses_an_index_that_counts(X_train):
    fb = ch03.fingerprint_changes([True] * 5, X_train=X_train)
    assert fb.message == (
        "resetting the index does not change the fingerprint, you said it does: "
        "the index is left out of the fingerprint unless index=True"
    )


def test_fingerprint_changes_refuses_rounding_as_harmless(X_train):
    fb = ch03.fingerprint_changes([True, False, True, False, True], X_train=X_train)
    assert fb.message.startswith(
        "rounding debt_to_income to three decimals changes the fingerprint, you "
        "said it does not"
    )
