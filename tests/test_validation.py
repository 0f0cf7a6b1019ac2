"""The credit data contract: valid batches pass, broken ones name column and rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from mlops_course import data, validation
from mlops_course.validation import SchemaErrors


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return data.generate_applications(3_000, seed=3)


def _failures(df: pd.DataFrame, **kwargs) -> pd.DataFrame:
    with pytest.raises(SchemaErrors) as caught:
        validation.validate_batch(df, **kwargs)
    return validation.failure_table(caught.value)


def test_schema_covers_every_feature_and_the_target():
    schema = validation.credit_schema()
    assert isinstance(schema, pa.DataFrameSchema)
    assert list(schema.columns) == data.FEATURES + [data.TARGET]
    assert set(validation.NUMERIC_RULES) == set(data.NUMERIC_FEATURES)
    assert set(validation.CATEGORIES) == set(data.CATEGORICAL_FEATURES)
    assert not any(column.nullable for column in schema.columns.values())


def test_reference_data_passes_and_comes_back_unchanged(reference):
    validated = validation.validate_batch(reference)
    pd.testing.assert_frame_equal(validated, reference)


@pytest.mark.parametrize("name", ["none", "covariate_shift", "concept_drift"])
def test_valid_drift_scenarios_pass(name):
    frame = data.drift_scenario(name, 3_000).frame
    # Valid drifted data passes unchanged: the contract neither refuses nor coerces.
    pd.testing.assert_frame_equal(validation.validate_batch(frame), frame)


def test_broken_feed_names_income_range_and_employment_nulls():
    frame = data.drift_scenario("broken_feed", 3_000).frame
    table = _failures(frame)
    assert list(table.columns) == validation.FAILURE_COLUMNS
    assert set(table["column"]) == {"annual_income", "employment_years"}
    income = table.set_index("column").loc["annual_income"]
    assert income["check"].startswith("in_range(")
    # Every income arrived in thousands: every row breaks the range.
    assert income["failing_rows"] == len(frame)
    assert income["example"] < validation.NUMERIC_RULES["annual_income"][1]
    employment = table.set_index("column").loc["employment_years"]
    assert employment["check"] == "not_nullable"
    assert employment["failing_rows"] == frame["employment_years"].isna().sum() > 0


def test_new_category_is_refused_on_loan_purpose():
    frame = data.drift_scenario("new_category", 3_000).frame
    table = _failures(frame)
    assert table["column"].tolist() == ["loan_purpose"]
    assert table["check"].iloc[0].startswith("isin(")
    assert table["example"].iloc[0] == data.NEW_PURPOSE
    assert (
        table["failing_rows"].iloc[0]
        == (frame["loan_purpose"] == data.NEW_PURPOSE).sum()
    )


def test_wrong_dtype_and_missing_column_are_schema_level_failures(reference):
    frame = reference.drop(columns=["region"]).assign(age=reference["age"] + 0.5)
    table = _failures(frame).set_index("column")
    assert table.loc["region", "check"] == "column_in_dataframe"
    assert table.loc["age", "check"] == "dtype('int64')"
    assert table["failing_rows"].isna().all()


def test_target_is_optional_for_serving_batches(reference):
    features = reference.drop(columns=[data.TARGET])
    assert _failures(features)["column"].tolist() == [data.TARGET]
    served = validation.validate_batch(features, require_target=False)
    pd.testing.assert_frame_equal(served, features)
    bad_label = reference.assign(**{data.TARGET: reference[data.TARGET] * 2})
    assert _failures(bad_label)["column"].tolist() == [data.TARGET]


def test_every_failure_is_reported_at_once(reference):
    frame = reference.copy()
    frame.loc[frame.index[:3], "interest_rate"] = -1.0
    frame.loc[frame.index[:5], "debt_to_income"] = np.nan
    frame.loc[frame.index[0], "region"] = "atlantis"
    table = _failures(frame).set_index("column")
    assert table.loc["interest_rate", "failing_rows"] == 3
    assert table.loc["debt_to_income", "failing_rows"] == 5
    assert table.loc["region", "example"] == "atlantis"


def test_not_a_dataframe_is_a_clear_error():
    with pytest.raises(TypeError, match="pandas DataFrame"):
        validation.validate_batch([{"age": 30}])


def test_command_line_gate_passes_fails_and_explains(tmp_path, capsys):
    good, broken = tmp_path / "good.parquet", tmp_path / "broken.parquet"
    data.drift_scenario("none", 500).frame.to_parquet(good)
    data.drift_scenario("broken_feed", 500).frame.to_parquet(broken)
    assert validation.main([str(good)]) == 0
    assert capsys.readouterr().out.startswith("PASS good.parquet: 500 rows")
    assert validation.main([str(broken)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL broken.parquet")
    assert "annual_income" in out and "not_nullable" in out
    features = tmp_path / "features.parquet"
    data.drift_scenario("none", 50).frame.drop(columns=[data.TARGET]).to_parquet(
        features
    )
    assert validation.main([str(features)]) == 1
    assert validation.main(["--no-target", str(features)]) == 0


@pytest.mark.parametrize("argv", [[], ["a.parquet", "b.parquet"], ["--wrong"]])
def test_command_line_usage_errors(argv, capsys):
    assert validation.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_command_line_missing_file(tmp_path, capsys):
    assert validation.main([str(tmp_path / "nope.parquet")]) == 2
    assert "no such file" in capsys.readouterr().err
