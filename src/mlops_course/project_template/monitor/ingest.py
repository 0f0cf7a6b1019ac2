"""Append a batch to the training data (then `dvc add` it and `dvc repro`).

    python monitor/ingest.py data/incoming/batch.parquet

data/applications.parquet is tracked by DVC, not git: appending changes its
md5, so `dvc repro` re-runs prepare, train and evaluate on the longer history,
and the time split puts the newest weeks (the batch) in the test split.
Applications already present (same application_id) are not added twice.
"""

import sys
from pathlib import Path

import pandas as pd

DATA = Path("data/applications.parquet")


def ingest(history: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    """History plus the batch's new applications, in time order."""
    missing = sorted(set(history.columns) - set(batch.columns))
    if missing:
        raise ValueError(f"the batch lacks the columns {missing}")
    fresh = batch[~batch["application_id"].isin(history["application_id"])]
    combined = pd.concat([history, fresh[history.columns]], ignore_index=True)
    return combined.sort_values("event_timestamp", kind="stable", ignore_index=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python monitor/ingest.py BATCH.parquet", file=sys.stderr)
        return 2
    history = pd.read_parquet(DATA)
    try:
        combined = ingest(history, pd.read_parquet(argv[0]))
    except ValueError as error:
        print(f"ingest ERROR: {error}", file=sys.stderr)
        return 2
    combined.to_parquet(DATA, index=False)
    print(f"{DATA}: {len(history)} -> {len(combined)} applications")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
