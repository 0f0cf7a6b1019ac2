"""CI job `gate`: may the model just trained replace the champion? Exit 1 if not.

Both models score the same held-out rows (data/prepared/test.parquet). The
challenger passes if the lower end of the 95% interval of its ROC AUC gain is
above -0.01 (no worse than the champion by more than 0.01: a retrained model
need not be better, only not worse) and no region loses more than 0.025. The
verdict goes to gate.json as registry tags, bound to what it judged: the
champion's version (champion/version.txt, written by `ci/champion.py
--download`) and the holdout's fingerprint, so the register job can refuse a
verdict about another champion or holdout. Without a champion (the very first
model) there is nothing to compare with: the gate passes and says so.
"""

import json
import sys
from pathlib import Path

import joblib
import pandas as pd

from mlops_course.data import FEATURES, TARGET
from mlops_course.gates import evaluate_gate
from mlops_course.tracking import data_fingerprint

CHAMPION = Path("champion/model.joblib")
CHAMPION_VERSION = Path("champion/version.txt")
OUT = Path("gate.json")


def main() -> int:
    holdout = pd.read_parquet("data/prepared/test.parquet")
    challenger = joblib.load("models/model.joblib")  # our own file (chapter 4)
    holdout_hash = data_fingerprint(holdout)
    if not CHAMPION.exists():
        first = {"gate.passed": "true", "gate.note": "first model"}
        first |= {"gate.champion_version": "none", "gate.holdout_hash": holdout_hash}
        OUT.write_text(json.dumps(first, indent=2, sort_keys=True) + "\n")
        print("PASS no champion yet: the first model is registered as it is")
        return 0
    champion = joblib.load(CHAMPION)  # our own file, from the registry
    known = CHAMPION_VERSION.exists()  # not when the champion came from elsewhere
    version = CHAMPION_VERSION.read_text().strip() if known else None
    try:
        result = judge(holdout, challenger, champion, version, holdout_hash)
    except ValueError as error:  # e.g. too few defaults in a slice to measure it
        print(f"gate ERROR: {error}")
        return 2
    OUT.write_text(json.dumps(result.to_tags(), indent=2, sort_keys=True) + "\n")
    print(result.summary())
    verdict = "passed" if result.passed else "FAILED: " + ", ".join(result.failed)
    print(f"gate {verdict}")
    return 0 if result.passed else 1


def judge(holdout, challenger, champion, champion_version=None, holdout_hash=None):
    """The course's evaluation gate (chapter 8) on the held-out rows."""
    return evaluate_gate(
        holdout[TARGET].to_numpy(),
        challenger.predict_proba(holdout[FEATURES])[:, 1],
        champion.predict_proba(holdout[FEATURES])[:, 1],
        min_improvement=-0.01,
        guard_slices={
            f"region={name}": (holdout["region"] == name).to_numpy()
            for name in sorted(holdout["region"].unique())
        },
        max_slice_drop=0.025,
        champion_version=champion_version,
        holdout_hash=holdout_hash,
    )


if __name__ == "__main__":
    sys.exit(main())
