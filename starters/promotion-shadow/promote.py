"""Promotion through the MLflow registry: staging, gate, production, shadow.

    python promote.py stage models/model.joblib   # register, gate, alias `staging`
    python promote.py promote                     # `staging` -> `production`
    python promote.py rollback "reason"           # back to the previous production

A new version is gated against the version `production` names now, on the
team's holdout (data/holdout.parquet), with the course's evaluation gate
(paired bootstrap intervals, non-inferiority, guard slices per region); the
verdict is stored on the version as tags and the `staging` alias moves to it
only if it passed. `promote` refuses (exit 1, with the reason) unless the
staged version's verdict passed against the *current* production and the
*current* holdout (`check_promotable`). While a version is staged, the
Seldon manifest (deploy/render.py) mirrors traffic to it as a shadow.
"""

import hashlib
import sys
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_course.data import FEATURES, TARGET
from mlops_course.gates import (
    ROLLED_BACK_TAG,
    PromotionRefused,
    check_promotable,
    evaluate_gate,
)
from mlops_course.tracking import SKOPS_TRUSTED_TYPES, pinned_requirements

NAME = "credit-default"
STAGING, PRODUCTION = "staging", "production"
HOLDOUT = Path("data/holdout.parquet")


def holdout_hash(frame: pd.DataFrame) -> str:
    """Fingerprint of the holdout's rows: a verdict on other rows does not count."""
    rows = pd.util.hash_pandas_object(frame[[*FEATURES, TARGET]], index=False)
    return hashlib.sha256(rows.to_numpy().tobytes()).hexdigest()[:16]


def alias_version(client: MlflowClient, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(NAME, alias).version)
    except MlflowException:
        return None


def stage(model, holdout: pd.DataFrame, client: MlflowClient) -> tuple[str, bool]:
    """Register ``model``, gate it against production, move `staging` if it passed."""
    with mlflow.start_run(run_name="candidate"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=NAME,
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=pinned_requirements(),
        )
    version = str(info.registered_model_version)
    production = alias_version(client, PRODUCTION)
    fingerprint = holdout_hash(holdout)
    if production is None:
        tags = {"gate.passed": "true", "gate.note": "first model: nothing to beat"}
    else:
        champion = mlflow.sklearn.load_model(f"models:/{NAME}@{PRODUCTION}")
        x, y = holdout[FEATURES], holdout[TARGET].to_numpy()
        result = evaluate_gate(
            y,
            model.predict_proba(x)[:, 1],
            champion.predict_proba(x)[:, 1],
            guard_slices={
                f"region={r}": (holdout["region"] == r).to_numpy()
                for r in sorted(holdout["region"].unique())
            },
            max_slice_drop=0.025,
            champion_version=production,
            holdout_hash=fingerprint,
        )
        print(result.summary())
        tags = result.to_tags()
    for key, value in tags.items():
        client.set_model_version_tag(NAME, version, key, value)
    passed = tags["gate.passed"] == "true"
    if passed:
        client.set_registered_model_alias(NAME, STAGING, version)
    return version, passed


def promote(holdout: pd.DataFrame, client: MlflowClient) -> str:
    """Move `production` to the staged version if its verdict still holds."""
    staged = alias_version(client, STAGING)
    if staged is None:
        raise PromotionRefused("nothing is staged")
    production = alias_version(client, PRODUCTION)
    if production is not None:
        tags = client.get_model_version(NAME, staged).tags
        check_promotable(
            staged,
            tags,
            champion_version=production,
            holdout_hash=holdout_hash(holdout),
        )
        client.set_model_version_tag(NAME, staged, "previous_production", production)
    client.set_registered_model_alias(NAME, PRODUCTION, staged)
    client.delete_registered_model_alias(NAME, STAGING)
    return staged


def rollback(reason: str, client: MlflowClient) -> str:
    """Point `production` back at the version it replaced; mark the bad one."""
    current = alias_version(client, PRODUCTION)
    if current is None:
        raise PromotionRefused("nothing is in production")
    previous = client.get_model_version(NAME, current).tags.get("previous_production")
    if previous is None:
        raise PromotionRefused(f"version {current} replaced no earlier version")
    client.set_model_version_tag(NAME, current, ROLLED_BACK_TAG, reason)
    client.set_registered_model_alias(NAME, PRODUCTION, previous)
    return previous


def main(argv: list[str]) -> int:
    client = MlflowClient()
    try:
        if argv[:1] == ["stage"] and len(argv) == 2:
            model = joblib.load(argv[1])  # our own file, from the training job
            version, passed = stage(model, pd.read_parquet(HOLDOUT), client)
            print(f"version {version}: gate {'passed' if passed else 'FAILED'}")
            return 0 if passed else 1
        if argv == ["promote"]:
            version = promote(pd.read_parquet(HOLDOUT), client)
            print(f"version {version} is now {NAME}@{PRODUCTION}")
            return 0
        if argv[:1] == ["rollback"] and len(argv) == 2:
            print(f"{NAME}@{PRODUCTION} is version {rollback(argv[1], client)} again")
            return 0
    except PromotionRefused as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 1
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
