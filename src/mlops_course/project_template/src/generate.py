"""Stage `generate`: write the applications table (params: data.n_rows, data.seed).

Only projects without a real data source use this stage; the course's seeded
generator stands in for the lender's data warehouse.
"""

from pathlib import Path

import yaml

from mlops_course.data import generate_applications

OUT = Path("data/applications.parquet")


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())["data"]
    frame = generate_applications(params["n_rows"], seed=params["seed"])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(OUT, index=False)
    print(f"wrote {len(frame)} applications to {OUT}")


if __name__ == "__main__":
    main()
