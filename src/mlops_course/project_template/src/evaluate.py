"""Stage `evaluate`: pick the rejection threshold on valid, score valid and test.

Metrics are rounded to 4 decimals: on a few hundred rows the next digits are
noise, and they are the digits that differ between CPUs.
"""

import json
from pathlib import Path

import joblib
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from mlops_course.data import FEATURES, TARGET
from mlops_course.modeling import best_threshold, expected_cost

OUT = Path("metrics.json")


def scores(y, proba, threshold):
    """Ranking, calibration and business cost of default probabilities."""
    return {
        "roc_auc": roc_auc_score(y, proba),
        "average_precision": average_precision_score(y, proba),
        "brier": brier_score_loss(y, proba),
        "expected_cost": expected_cost(y, proba, threshold),
    }


def main() -> None:
    model = joblib.load("models/model.joblib")  # our own file (chapter 4)
    parts = {
        name: pd.read_parquet(f"data/prepared/{name}.parquet")
        for name in ("valid", "test")
    }
    proba = {n: model.predict_proba(p[FEATURES])[:, 1] for n, p in parts.items()}
    # The threshold is a decision the model makes: choose it on valid, never on test.
    threshold, _ = best_threshold(parts["valid"][TARGET].to_numpy(), proba["valid"])
    metrics = {"threshold": threshold}
    for name, part in parts.items():
        values = scores(part[TARGET].to_numpy(), proba[name], threshold)
        metrics[name] = {k: round(float(v), 4) for k, v in values.items()}
    OUT.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"threshold {threshold}, metrics written to {OUT}")


if __name__ == "__main__":
    main()
