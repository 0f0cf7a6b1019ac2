"""The case-study generator: seeded, well-formed, with drift whose truth is known."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlops_course.data import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NEW_PURPOSE,
    REFERENCE_DATE,
    SCENARIOS,
    SENSITIVE,
    TARGET,
    drift_scenario,
    drifting_weeks,
    generate_applications,
    ground_truth_probability,
    time_split,
)
from mlops_course.modeling import make_model, score


def test_same_seed_same_rows_other_seed_other_rows():
    a = generate_applications(2_000, seed=3)
    pd.testing.assert_frame_equal(a, generate_applications(2_000, seed=3))
    assert not a.equals(generate_applications(2_000, seed=4))


def test_schema_ids_and_timestamps():
    frame = generate_applications(3_000, seed=1)
    assert list(frame.columns[:3]) == [
        "application_id",
        "customer_id",
        "event_timestamp",
    ]
    assert set(FEATURES + [SENSITIVE, TARGET]) <= set(frame.columns)
    assert frame["application_id"].is_unique
    assert frame["customer_id"].nunique() < len(frame)  # returning customers exist
    ts = frame["event_timestamp"]
    assert str(ts.dt.tz) == "UTC" and ts.is_monotonic_increasing
    assert ts.min() >= pd.Timestamp(REFERENCE_DATE)
    assert ts.max() < pd.Timestamp(REFERENCE_DATE + timedelta(days=365))
    assert frame[FEATURES].notna().all().all()
    assert set(frame[SENSITIVE]) == {"F", "M"}


def test_customer_profile_is_stable_across_applications():
    frame = generate_applications(5_000, seed=2)
    per_customer = frame.groupby("customer_id")[
        ["age", "gender", "region", "home_ownership"]
    ]
    assert (per_customer.nunique() == 1).all().all()


def test_default_rate_and_learnable_signal():
    frame = generate_applications(20_000, seed=5)
    assert 0.08 < frame[TARGET].mean() < 0.18
    split = time_split(frame)
    model = make_model("logreg").fit(split.train[FEATURES], split.train[TARGET])
    auc = score(split.test[TARGET], model.predict_proba(split.test[FEATURES])[:, 1])[
        "roc_auc"
    ]
    truth_auc = score(split.test[TARGET], ground_truth_probability(split.test))[
        "roc_auc"
    ]
    assert 0.65 < auc <= truth_auc + 0.02


def test_sensitive_attribute_has_a_known_indirect_gap():
    frame = generate_applications(50_000, seed=6)
    rates = frame.groupby(SENSITIVE)[TARGET].mean()
    assert rates["F"] > rates["M"]  # through income only: no gender term in the truth


def test_large_batches_keep_fixed_width_ids_in_row_order():
    frame = generate_applications(200_000, seed=0)
    assert len(frame) == 200_000
    for column, width in (("application_id", 9), ("customer_id", 8)):
        ids = frame[column]
        assert (ids.str.len() == width).all(), f"{column} lost its zero padding"
    # zero padding keeps text order equal to row order, so sorting by id is stable
    assert frame["application_id"].is_unique
    assert frame["application_id"].is_monotonic_increasing
    assert 0.08 < frame[TARGET].mean() < 0.18


def _moved(reference: pd.Series, current: pd.Series) -> float:
    """How far a feature's distribution moved: KS distance for numbers (plus the
    change in the missing share), total variation distance for categories."""
    if reference.dtype == object:
        shares = pd.concat(
            [
                reference.value_counts(normalize=True),
                current.value_counts(normalize=True),
            ],
            axis=1,
        ).fillna(0.0)
        return float((shares.iloc[:, 0] - shares.iloc[:, 1]).abs().sum() / 2)
    a, b = np.sort(reference.dropna()), np.sort(current.dropna())
    grid = np.concatenate([a, b])
    ks = np.max(
        np.abs(
            np.searchsorted(a, grid, "right") / a.size
            - np.searchsorted(b, grid, "right") / b.size
        )
    )
    return float(max(ks, abs(reference.isna().mean() - current.isna().mean())))


@pytest.fixture(scope="module")
def reference_sample():
    return generate_applications(60_000, seed=1)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_returns_its_truth(name, reference_sample):
    """The declared drifted features are exactly those whose distribution moved."""
    batch = drift_scenario(name, 60_000, seed=2)
    assert batch.truth.name == name
    assert batch.frame["event_timestamp"].min() >= pd.Timestamp(
        REFERENCE_DATE + timedelta(days=365)
    )
    moved = {f: _moved(reference_sample[f], batch.frame[f]) for f in FEATURES}
    # Two samples of 60,000 from one process differ by about 0.01 (noise, seeds
    # 1-6); the smallest planted shift (loans 20% larger) moves its feature by 0.055.
    declared = set(batch.truth.drifted_features)
    assert {f for f, d in moved.items() if d > 0.03} == declared, moved
    assert batch.truth.concept_drift == (name == "concept_drift")
    assert batch.truth.data_quality_issue == (name == "broken_feed")


def test_drifted_features_really_moved_and_others_did_not():
    reference = generate_applications(20_000, seed=1)
    shifted = drift_scenario("covariate_shift", 20_000, seed=1).frame
    ratio = shifted["annual_income"].median() / reference["annual_income"].median()
    assert 0.7 < ratio < 0.8
    assert abs(shifted["age"].mean() - reference["age"].mean()) < 1.0
    new = drift_scenario("new_category", 5_000).frame
    assert NEW_PURPOSE in set(new["loan_purpose"]) and NEW_PURPOSE not in set(
        reference["loan_purpose"]
    )
    broken = drift_scenario("broken_feed", 5_000).frame
    assert broken["annual_income"].median() < 1_000
    assert 0.3 < broken["employment_years"].isna().mean() < 0.5


def test_concept_drift_keeps_features_but_changes_labels():
    same = drift_scenario("none", 20_000, seed=9).frame
    drifted = drift_scenario("concept_drift", 20_000, seed=9).frame
    pd.testing.assert_frame_equal(same[FEATURES], drifted[FEATURES])
    assert drifted[TARGET].mean() > same[TARGET].mean() + 0.02


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="unknown drift scenario"):
        drift_scenario("earthquake")
    with pytest.raises(ValueError, match="n_rows"):
        generate_applications(0)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_applications(10, start=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="leave rows"):
        time_split(generate_applications(100), valid_fraction=0.5, test_fraction=0.5)


def test_time_split_is_ordered_and_complete():
    frame = generate_applications(4_000, seed=8)
    train, valid, test = time_split(frame, valid_fraction=0.2, test_fraction=0.1)
    assert len(train) + len(valid) + len(test) == len(frame)
    assert train["event_timestamp"].max() < valid["event_timestamp"].min()
    assert valid["event_timestamp"].max() < test["event_timestamp"].min()
    assert np.isclose(len(test) / len(frame), 0.1, atol=0.01)
    assert set(CATEGORICAL_FEATURES) <= set(train.columns)


def test_drifting_weeks_in_blocks_take_exact_shares_in_order():
    """Chapter 13's traffic: a scenario's share grows from 0 to 1, exactly per week."""
    blocks = {"onset_week": 1, "ramp_weeks": 4, "rows_per_week": 40, "seed": 3}
    weeks = drifting_weeks(5, scenario="concept_drift", mixing="blocks", **blocks)
    assert weeks.groupby("week").size().tolist() == [40] * 5
    shares = weeks.groupby("week")["scenario_share"].first().tolist()
    assert shares == [0.0, 0.25, 0.5, 0.75, 1.0]
    again = drifting_weeks(5, scenario="concept_drift", mixing="blocks", **blocks)
    assert weeks.equals(again)
    novel = drifting_weeks(
        3, scenario="new_category", onset_week=1, ramp_weeks=2, rows_per_week=400,
        seed=3, mixing="blocks",
    )  # fmt: skip
    new = novel["loan_purpose"].eq(NEW_PURPOSE).groupby(novel["week"])
    assert new.sum().tolist()[0] == 0 and new.mean().tolist()[2] > 0.1
    # Half of week 1 is scenario rows: its last 200, the first of its own slice.
    half = novel[novel["week"] == 1]
    assert not half["loan_purpose"].iloc[:200].eq(NEW_PURPOSE).any()
    with pytest.raises(ValueError, match="mixing"):
        drifting_weeks(3, mixing="shuffle")
