"""CI step `track`: log the DVC pipeline's run to MLflow, with its lineage.

    python src/track.py

One MLflow run per training: every parameter of params.yaml (flattened:
`train.C`), every metric of metrics.json (`test.roc_auc`), the DVC md5 of the
training data and of the prepared splits from dvc.lock, the git commit and,
when drift.json exists, why the run happened. The run id goes to stdout and,
on GitHub Actions, to `MLFLOW_RUN_ID` in the job's environment, so that
`ci/champion.py --register` logs the model into the same run.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import yaml


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"train": {"C": 1}} -> {"train.C": 1}."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def data_versions(lock: dict) -> dict[str, str]:
    """md5 of every output DVC recorded in dvc.lock, by path."""
    versions = {}
    for stage in lock.get("stages", {}).values():
        for dep in stage.get("deps", []):
            if dep["path"].startswith("data/"):
                versions[dep["path"]] = dep["md5"]
    return versions


def git_commit() -> str:
    if "GITHUB_SHA" in os.environ:
        return os.environ["GITHUB_SHA"]
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def main() -> int:
    params = yaml.safe_load(Path("params.yaml").read_text())
    metrics = json.loads(Path("metrics.json").read_text())
    lock = yaml.safe_load(Path("dvc.lock").read_text())
    tags = {f"dvc.md5.{path}": md5 for path, md5 in data_versions(lock).items()}
    tags["git.commit"] = git_commit()
    if Path("drift.json").is_file():
        drift = json.loads(Path("drift.json").read_text())
        tags["trigger"] = "drift" if drift["drifted"] else "manual"
        tags["drift.features"] = ",".join(drift["drifted_features"]) or "none"
    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "retraining"))
    with mlflow.start_run(run_name="retrain") as run:
        mlflow.log_params(flatten(params))
        mlflow.log_metrics(flatten(metrics))
        mlflow.set_tags(tags)
        mlflow.log_artifact("dvc.lock")
    print(run.info.run_id)
    if "GITHUB_ENV" in os.environ:
        with open(os.environ["GITHUB_ENV"], "a") as env:
            env.write(f"MLFLOW_RUN_ID={run.info.run_id}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
