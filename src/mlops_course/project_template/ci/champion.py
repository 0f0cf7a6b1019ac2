"""CI jobs `gate` and `register`: fetch the champion, register a new model.

    python ci/champion.py --download champion/model.joblib
    python ci/champion.py --register models/model.joblib --gate gate.json

The registry is MLflow's (MLFLOW_TRACKING_URI); the model's name is
credit-default and the serving alias is `champion` (chapter 8). `--download`
writes nothing when no version holds the alias yet. `--register` logs the
model, tags the new version with the gate's verdict and moves the alias only
if the gate passed.
"""

import argparse
import json
import sys
from pathlib import Path

import joblib
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_course.tracking import SKOPS_TRUSTED_TYPES, pinned_requirements

NAME = "credit-default"
ALIAS = "champion"


def download(target: Path) -> int:
    try:
        version = MlflowClient().get_model_version_by_alias(NAME, ALIAS)
    except MlflowException:
        print(f"no {NAME}@{ALIAS} yet: nothing to compare with")
        return 0
    model = mlflow.sklearn.load_model(f"models:/{NAME}@{ALIAS}")
    target.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, target)
    print(f"{NAME}@{ALIAS} is version {version.version}")
    return 0


def register(model_path: Path, gate_path: Path) -> int:
    tags = json.loads(gate_path.read_text())
    model = joblib.load(model_path)  # our own file, written by the train job
    with mlflow.start_run(run_name="ci-train"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=NAME,
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
    client.set_registered_model_alias(NAME, ALIAS, version)
    print(f"version {version} is now {NAME}@{ALIAS}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--download", type=Path, help="write the champion here")
    parser.add_argument("--register", type=Path, help="model file to register")
    parser.add_argument("--gate", type=Path, default=Path("gate.json"))
    args = parser.parse_args()
    if (args.download is None) == (args.register is None):
        parser.error("give exactly one of --download or --register")
    if args.download is not None:
        return download(args.download)
    return register(args.register, args.gate)


if __name__ == "__main__":
    sys.exit(main())
