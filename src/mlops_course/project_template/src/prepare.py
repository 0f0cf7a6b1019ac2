"""Stage `prepare`: split applications by time (params: prepare.*).

The past trains, the next period validates, the last period tests: a model is
always judged on applications that came after the ones it learnt from.
"""

from pathlib import Path

import pandas as pd
import yaml

SOURCE = Path("data/applications.parquet")
OUT = Path("data/prepared")
TIME = "event_timestamp"


def split_by_time(frame, valid_fraction, test_fraction):
    """Train, valid and test parts of ``frame``, cut at two quantiles of time."""
    ordered = frame.sort_values(TIME, kind="stable")
    times = ordered[TIME]
    valid_start = times.quantile(1 - valid_fraction - test_fraction)
    test_start = times.quantile(1 - test_fraction)
    return {
        "train": ordered[times < valid_start],
        "valid": ordered[(times >= valid_start) & (times < test_start)],
        "test": ordered[times >= test_start],
    }


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())["prepare"]
    frame = pd.read_parquet(SOURCE)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, part in split_by_time(frame, **params).items():
        part.to_parquet(OUT / f"{name}.parquet", index=False)
        print(f"{name}: {len(part)} rows")


if __name__ == "__main__":
    main()
