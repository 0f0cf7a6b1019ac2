"""The data contract of the credit-default frames, as a pandera schema.

Chapter 11 (CI/CD for ML) builds this schema by hand first and then uses this
shared version as the *data validation gate* of its pipeline; chapter 10
(orchestration) runs it as a pipeline task. A batch that breaks the contract
raises :class:`pandera.errors.SchemaErrors` naming every column and rule at
fault; :func:`failure_table` turns that error into a small table for a report.

The ranges are business rules for a lender, not the min and max of one sample:
wide enough for every drift scenario that is still valid data (a downturn
lowers incomes, it does not change their unit), tight enough to catch a unit
error. What each scenario of :func:`mlops_course.data.drift_scenario` does
against the schema:

- ``none``, ``covariate_shift``, ``concept_drift``: pass (valid data; drift is
  for the monitoring chapter to find, not for a contract to forbid);
- ``new_category``: fails on ``loan_purpose`` (``isin``): a category the
  model never saw is a contract change a person must accept;
- ``broken_feed``: fails on ``annual_income`` (``in_range``: incomes in
  thousands) and ``employment_years`` (``not_nullable``).

``python -m mlops_course.validation FILE.parquet`` is the same gate as a
command for a CI job: it prints the failure table and exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from mlops_course.data import HOME_OWNERSHIP, LOAN_PURPOSE, REGIONS, TARGET

__all__ = [
    "CATEGORIES",
    "FAILURE_COLUMNS",
    "NUMERIC_RULES",
    "SchemaErrors",
    "credit_schema",
    "failure_table",
    "main",
    "validate_batch",
]

#: Per numeric feature: pandas dtype, smallest and largest plausible value.
NUMERIC_RULES: dict[str, tuple[str, float, float]] = {
    "age": ("int64", 18, 100),
    "annual_income": ("float64", 1_000, 10_000_000),
    "employment_years": ("float64", 0, 80),
    "credit_history_months": ("int64", 0, 1_000),
    "num_open_accounts": ("int64", 0, 100),
    "num_late_payments_2y": ("int64", 0, 100),
    "loan_amount": ("float64", 100, 1_000_000),
    "loan_term_months": ("int64", 1, 480),
    "interest_rate": ("float64", 0, 100),
    "debt_to_income": ("float64", 0, 10),
}

#: Per categorical feature: the categories the model was trained on.
CATEGORIES: dict[str, list[str]] = {
    "home_ownership": sorted(HOME_OWNERSHIP),
    "loan_purpose": sorted(LOAN_PURPOSE),
    "region": sorted(REGIONS),
}

#: Columns of the table :func:`failure_table` returns.
FAILURE_COLUMNS = ["column", "check", "failing_rows", "example"]


def credit_schema(*, require_target: bool = True) -> pa.DataFrameSchema:
    """The credit frames' contract: dtypes, ranges, allowed categories, no nulls."""
    columns: dict[str, pa.Column] = {}
    for name, (dtype, low, high) in NUMERIC_RULES.items():
        columns[name] = pa.Column(
            dtype, pa.Check.in_range(low, high), nullable=False, coerce=False
        )
    for name, allowed in CATEGORIES.items():
        columns[name] = pa.Column(str, pa.Check.isin(allowed), nullable=False)
    columns[TARGET] = pa.Column(
        "int64", pa.Check.isin([0, 1]), nullable=False, required=require_target
    )
    return pa.DataFrameSchema(columns, name="credit_applications", strict=False)


def validate_batch(df: pd.DataFrame, *, require_target: bool = True) -> pd.DataFrame:
    """Validate a batch against :func:`credit_schema`, reporting every failure.

    Returns the frame unchanged when it passes; raises
    :class:`pandera.errors.SchemaErrors` (lazy validation: all failures at once)
    otherwise.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    return credit_schema(require_target=require_target).validate(df, lazy=True)


def failure_table(error: SchemaErrors) -> pd.DataFrame:
    """One row per (column, check) that failed: how many rows, and one example."""
    cases = error.failure_cases.copy()
    # A missing column is reported at the frame level: the column is the case.
    missing = cases["check"].astype(str) == "column_in_dataframe"
    cases["column"] = cases["column"].where(~missing, cases["failure_case"])
    cases["check"] = cases["check"].astype(str)
    rows = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        # Schema-level failures (wrong dtype, missing column) have no row index.
        failing = int(group["index"].notna().sum()) or None
        example = group["failure_case"].iloc[0]
        rows.append((column, check, failing, example))
    table = pd.DataFrame(rows, columns=FAILURE_COLUMNS)
    table["failing_rows"] = table["failing_rows"].astype("Int64")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlops_course.validation FILE.parquet``: exit 1 if the batch fails.

    The data validation job of chapter 11's CI workflow runs this line. Add
    ``--no-target`` for a batch without labels (a scoring batch).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    require_target = "--no-target" not in args
    paths = [a for a in args if a != "--no-target"]
    if len(paths) != 1 or paths[0].startswith("-"):
        print(
            "usage: python -m mlops_course.validation [--no-target] FILE.parquet",
            file=sys.stderr,
        )
        return 2
    path = Path(paths[0])
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    frame = pd.read_parquet(path)
    try:
        validate_batch(frame, require_target=require_target)
    except SchemaErrors as error:
        table = failure_table(error)
        print(f"FAIL {path.name}: {len(frame)} rows break the data contract")
        print(table.to_string(index=False))
        return 1
    print(f"PASS {path.name}: {len(frame)} rows match the data contract")
    return 0


if __name__ == "__main__":
    sys.exit(main())
