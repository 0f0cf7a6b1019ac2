"""Checks for chapter 3's exercises (experiment tracking with MLflow)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from mlops_course import tracking
from mlops_course.exercises import exercise, expect, expect_type


def _sweep_children(store: Path, sweep_id: str) -> set[str]:
    """The ids of the sweep's child runs, read from the store's own database."""
    import mlflow

    with warnings.catch_warnings():
        # MLflow's SQL store (not our call) configures a loader SQLAlchemy deprecates.
        warnings.filterwarnings("ignore", message=".*noload.*")
        uri = f"sqlite:///{Path(store) / 'mlflow.db'}"
        client = mlflow.MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name("credit-default")
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{sweep_id}'",
        )
    return {run.info.run_id for run in runs}


@exercise("ex-03-1")
def restarted_store(runs, *, store, sweep_id, best_c) -> str:
    """The sweep's child runs, found again through a new server on the same store."""
    expect_type(runs, pd.DataFrame, "the DataFrame mlflow.search_runs returned")
    expect(
        {"run_id", "params.model.C"} <= set(runs.columns),
        "the table needs the run_id and params.model.C columns search_runs gives",
    )
    children = _sweep_children(store, sweep_id)
    found = set(runs["run_id"])
    extra, missing = found - children, children - found
    expect(
        not extra,
        f"{len(extra)} of your runs are not children of the sweep (the parent run, "
        "or other experiments): filter on tags.mlflow.parentRunId",
    )
    expect(
        not missing,
        f"{len(missing)} of the sweep's {len(children)} child runs are missing from "
        "your table: the database still holds them",
    )
    first = float(runs.iloc[0]["params.model.C"])
    expect(
        first == best_c,
        f"your first row has C = {first:g}, but the best C of the sweep is "
        f"{best_c:g}: order by metrics.valid_roc_auc DESC",
    )
    return (
        "every child run of the sweep is back, best C first: the state was in the "
        "database and the artifact folder, not in the server"
    )


#: The exercise's five changes to X_train, in its order, and whether each must
#: change the fingerprint (the index is left out unless ``index=True``).
CHANGES = {
    "reversing the row order": True,
    "resetting the index": False,
    "adding one dollar to one income": True,
    "rounding debt_to_income to three decimals": True,
    "storing region as a category": True,
}


def _variants(X: pd.DataFrame) -> list[pd.DataFrame]:
    raised = X.copy()
    raised.loc[raised.index[0], "annual_income"] += 1
    return [
        X.iloc[::-1],
        X.reset_index(drop=True),
        raised,
        X.assign(debt_to_income=X["debt_to_income"].round(3)),
        X.astype({"region": "category"}),
    ]


@exercise("ex-03-2")
def fingerprint_changes(changed, *, X_train) -> str:
    """Which of the five changes alter ``data_fingerprint``, in the exercise's order."""
    expect_type(changed, (pd.Series, dict, list), "a Series of five booleans")
    values = list(changed.values() if isinstance(changed, dict) else changed)
    expect(
        len(values) == len(CHANGES),
        f"{len(values)} answers: give one per change, in the exercise's order "
        f"({', '.join(CHANGES)})",
    )
    reference = tracking.data_fingerprint(X_train)
    for (change, _), given, variant in zip(
        CHANGES.items(), values, _variants(X_train), strict=True
    ):
        truth = tracking.data_fingerprint(variant) != reference
        why = (
            "the fingerprint hashes every column name, dtype and value in row order"
            if truth
            else "the index is left out of the fingerprint unless index=True"
        )
        expect(
            bool(given) == truth,
            f"{change} {'changes' if truth else 'does not change'} the "
            f"fingerprint, you said {'it does' if given else 'it does not'}: {why}",
        )
    return (
        "every change of value, order or type alters the fingerprint; the index "
        "alone does not"
    )
