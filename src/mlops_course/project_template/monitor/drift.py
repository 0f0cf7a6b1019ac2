"""Has the newest batch drifted from the data the model was trained on?

    python monitor/drift.py data/incoming/batch.parquet

Evidently compares each feature of the batch (current) with the training split
(reference: data/prepared/train.parquet, which `dvc pull` restores) and tests
each one for drift. The verdict goes to drift.json: which features drifted and
whether the batch counts as drifted (more than `monitor.max_drifted_share` of
the features, from params.yaml). On GitHub Actions it is also a job output
(`drifted=true|false`) that the `retrain` job waits on. Drift is not an error:
the exit code is 0 either way, and 2 only for input the check cannot read.
"""

import json
import os
import sys
from pathlib import Path

import pandas as pd
import yaml
from evidently import Report
from evidently.presets import DataDriftPreset

from mlops_course.data import FEATURES
from mlops_course.monitoring import outcomes_of

REFERENCE = Path("data/prepared/train.parquet")
OUT = Path("drift.json")


def drifted_features(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Features whose Evidently drift test failed, in the model's feature order."""
    report = Report([DataDriftPreset(columns=list(FEATURES))], include_tests=True)
    snapshot = report.run(current[FEATURES], reference[FEATURES])
    failed = {
        outcome.column
        for outcome in outcomes_of(snapshot)
        if outcome.metric == "ValueDrift" and outcome.failed
    }
    return [name for name in FEATURES if name in failed]


def verdict(reference: pd.DataFrame, current: pd.DataFrame, max_share: float) -> dict:
    """The drift verdict of one batch, as drift.json holds it."""
    missing = [name for name in FEATURES if name not in current.columns]
    if missing:
        raise ValueError(f"the batch lacks the model's columns {missing}")
    drifted = drifted_features(reference, current)
    share = len(drifted) / len(FEATURES)
    return {
        "rows": len(current),
        "drifted_features": drifted,
        "drifted_share": round(share, 4),
        "max_drifted_share": max_share,
        "drifted": share > max_share,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python monitor/drift.py BATCH.parquet", file=sys.stderr)
        return 2
    batch = Path(argv[0])
    if not batch.is_file() or not REFERENCE.is_file():
        print(f"drift check ERROR: need {batch} and {REFERENCE}", file=sys.stderr)
        return 2
    max_share = yaml.safe_load(Path("params.yaml").read_text())["monitor"][
        "max_drifted_share"
    ]
    try:
        result = verdict(pd.read_parquet(REFERENCE), pd.read_parquet(batch), max_share)
    except ValueError as error:
        print(f"drift check ERROR: {error}", file=sys.stderr)
        return 2
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    word = "DRIFTED" if result["drifted"] else "no drift"
    print(f"{word}: {len(result['drifted_features'])} of {len(FEATURES)} features "
          f"{result['drifted_features']}")  # fmt: skip
    if "GITHUB_OUTPUT" in os.environ:
        with open(os.environ["GITHUB_OUTPUT"], "a") as output:
            output.write(f"drifted={str(result['drifted']).lower()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
