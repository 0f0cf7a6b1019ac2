"""Train the credit-default model and save it into BentoML's model store.

    python train.py            # then: bentoml serve  (or bentoml build)

The model goes into the store as `credit_default` with its threshold in the
metadata; the scored held-out weeks go to reference.parquet, the reference
that monitor.py compares live traffic with.
"""

import sys
from pathlib import Path

import bentoml
import joblib
import pandas as pd

from mlops_course.data import generate_applications, time_split
from mlops_course.modeling import best_threshold, features_and_target, make_model
from mlops_course.monitoring import scored_frame

MODEL_NAME = "credit_default"
REFERENCE = Path("reference.parquet")


def main(n_rows: int = 4_000) -> str:
    split = time_split(generate_applications(n_rows, seed=42))
    model = make_model("logreg", seed=0).fit(*features_and_target(split.train))
    x_valid, y_valid = features_and_target(split.valid)
    threshold, _ = best_threshold(
        y_valid.to_numpy(), model.predict_proba(x_valid)[:, 1]
    )
    with bentoml.models.create(
        MODEL_NAME, metadata={"threshold": threshold, "rows": len(split.train)}
    ) as stored:
        joblib.dump(model, stored.path_of("model.joblib"))
    held_out = pd.concat([split.valid, split.test])  # weeks the model did not see
    scored_frame(model, held_out).to_parquet(REFERENCE, index=False)
    print(f"saved {stored.tag}, threshold {threshold}")
    return str(stored.tag)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
