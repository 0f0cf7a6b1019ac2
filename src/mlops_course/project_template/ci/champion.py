"""CI jobs `gate` and `register`: fetch the champion, register a new model.

    python ci/champion.py --download champion/model.joblib
    python ci/champion.py --register models/model.joblib --gate gate.json \
        --metrics metrics.json

The registry is MLflow's (MLFLOW_TRACKING_URI); the model's name is
credit-default and the serving alias is `champion` (chapter 8). `--download`
writes nothing when no version holds the alias yet, and otherwise writes the
champion's version beside it for the gate to record. `--register` logs the
model the way chapter 8's service loads it (a `predict_proba` pyfunc whose
metadata holds the decision threshold from the evaluate job's metrics.json),
tags the new version with the gate's verdict and moves the alias only if the
gate passed against the current champion and holdout (`check_promotable`).
"""

import argparse
import json
import sys
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from mlops_course.data import FEATURES
from mlops_course.gates import PromotionRefused, check_promotable
from mlops_course.serialization import as_model_input
from mlops_course.tracking import (
    SKOPS_TRUSTED_TYPES,
    data_fingerprint,
    pinned_requirements,
)

NAME = "credit-default"
ALIAS = "champion"
PREPARED = Path("data/prepared")  # the train job's split, in the candidate artifact


def download(target: Path) -> int:
    try:
        version = MlflowClient().get_model_version_by_alias(NAME, ALIAS)
    except MlflowException:
        print(f"no {NAME}@{ALIAS} yet: nothing to compare with")
        return 0
    model = mlflow.sklearn.load_model(f"models:/{NAME}@{ALIAS}")
    target.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, target)
    # The gate records which champion it judged against (ci/gate.py).
    (target.parent / "version.txt").write_text(f"{version.version}\n")
    print(f"{NAME}@{ALIAS} is version {version.version}")
    return 0


def decision_threshold(metrics_path: Path) -> float:
    """The threshold the evaluate job chose on validation (metrics.json)."""
    threshold = json.loads(metrics_path.read_text()).get("threshold")
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise SystemExit(f"{metrics_path} has no threshold between 0 and 1")
    return float(threshold)


def register(model_path: Path, gate_path: Path, metrics_path: Path) -> int:
    tags = json.loads(gate_path.read_text())
    threshold = decision_threshold(metrics_path)
    model = joblib.load(model_path)  # our own file, written by the train job
    train = pd.read_parquet(PREPARED / "train.parquet")
    example = as_model_input(train[FEATURES].head(5))
    with mlflow.start_run(run_name="ci-train"):
        mlflow.log_param("training_data_hash", data_fingerprint(train))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=NAME,
            # What chapter 8's service needs: probabilities and the threshold.
            pyfunc_predict_fn="predict_proba",
            signature=infer_signature(example, model.predict_proba(example)),
            metadata={"decision_threshold": threshold},
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=pinned_requirements(),
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(NAME, version, key, value)
    if tags.get("gate.passed") != "true":
        print(f"version {version} registered but refused by the gate")
        return 1
    # The verdict must be about today's champion and holdout (chapter 8):
    # another run may have moved the alias since this run's gate job.
    try:
        current = client.get_model_version_by_alias(NAME, ALIAS).version
    except MlflowException:
        current = "none"
    holdout = data_fingerprint(pd.read_parquet(PREPARED / "test.parquet"))
    try:
        check_promotable(
            version, tags, champion_version=str(current), holdout_hash=holdout
        )
    except PromotionRefused as refused:
        print(f"version {version} registered but not promoted: {refused}")
        return 1
    client.set_registered_model_alias(NAME, ALIAS, version)
    print(f"version {version} is now {NAME}@{ALIAS}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--download", type=Path, help="write the champion here")
    parser.add_argument("--register", type=Path, help="model file to register")
    parser.add_argument("--gate", type=Path, default=Path("gate.json"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics.json"))
    args = parser.parse_args()
    if (args.download is None) == (args.register is None):
        parser.error("give exactly one of --download or --register")
    if args.download is not None:
        return download(args.download)
    return register(args.register, args.gate, args.metrics)


if __name__ == "__main__":
    sys.exit(main())
