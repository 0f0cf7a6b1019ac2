"""Stage `train`: fit the credit-default model on the train split (params: train.*)."""

from pathlib import Path

import joblib
import pandas as pd
import yaml

from mlops_course.data import FEATURES, TARGET
from mlops_course.modeling import make_model

OUT = Path("models/model.joblib")


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())["train"]
    hyper = {k: v for k, v in params.items() if k not in ("kind", "seed")}
    model = make_model(params["kind"], seed=params["seed"], **hyper)
    train = pd.read_parquet("data/prepared/train.parquet")
    model.fit(train[FEATURES], train[TARGET])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, OUT)
    print(f"fitted {params['kind']} on {len(train)} rows")


if __name__ == "__main__":
    main()
