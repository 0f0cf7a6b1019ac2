"""Data drift and prediction drift of live traffic, with Evidently.

    python monitor.py current.parquet      # writes monitoring/report.html

current.parquet holds the applications the service scored and the
probabilities it answered (column `prediction`, as the service logs them);
reference.parquet is the scored validation and test weeks from train.py. The report
tests each feature and the prediction for drift; drift.json lists what moved.
"""

import json
import sys
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset

from mlops_course.data import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from mlops_course.monitoring import PREDICTION, detection_of, outcomes_of

REFERENCE = Path("reference.parquet")
OUT = Path("monitoring")


def as_dataset(frame: pd.DataFrame) -> Dataset:
    """Tell Evidently each column's type rather than let it guess from the values."""
    definition = DataDefinition(
        numerical_columns=[*NUMERIC_FEATURES, PREDICTION],
        categorical_columns=list(CATEGORICAL_FEATURES),
    )
    return Dataset.from_pandas(frame, data_definition=definition)


def check(reference: pd.DataFrame, current: pd.DataFrame):
    """The Evidently snapshot and what it detected on one batch."""
    columns = [*FEATURES, PREDICTION]
    missing = [c for c in columns if c not in current.columns]
    if missing:
        raise ValueError(f"the batch lacks the columns {missing}")
    report = Report(
        [DataDriftPreset(columns=list(FEATURES)), ValueDrift(column=PREDICTION)],
        include_tests=True,
    )
    snapshot = report.run(as_dataset(current[columns]), as_dataset(reference[columns]))
    return snapshot, detection_of(outcomes_of(snapshot))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python monitor.py CURRENT.parquet", file=sys.stderr)
        return 2
    try:
        snapshot, found = check(pd.read_parquet(REFERENCE), pd.read_parquet(argv[0]))
    except ValueError as error:
        print(f"monitor ERROR: {error}", file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)
    snapshot.save_html(str(OUT / "report.html"))
    verdict = {
        "drifted_features": list(found.drifted_columns),
        "prediction_drift": found.prediction_drift,
    }
    (OUT / "drift.json").write_text(json.dumps(verdict, indent=2) + "\n")
    print(json.dumps(verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
