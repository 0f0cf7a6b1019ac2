"""Delayed outcomes and the running A/B readout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from mlops_course import ab_tests
from mlops_course.data import generate_applications


def test_outcomes_arrive_between_the_delays():
    frame = ab_tests.with_outcome_dates(generate_applications(500, seed=1), seed=2)
    delay = (frame["outcome_at"] - frame["event_timestamp"]).dt.days
    assert delay.between(30, 90).all() and delay.nunique() > 30
    again = ab_tests.with_outcome_dates(generate_applications(500, seed=1), seed=2)
    pd.testing.assert_series_equal(frame["outcome_at"], again["outcome_at"])
    with pytest.raises(ValueError, match="min_days"):
        ab_tests.with_outcome_dates(frame, min_days=10, max_days=5)


def test_readout_counts_only_approved_loans_whose_outcome_is_known():
    day = pd.Timestamp("2025-03-01", tz="UTC")
    decisions = pd.DataFrame(
        {
            "variant": ["primary"] * 4 + ["challenger"] * 3,
            "decision": ["approve", "approve", "approve", "reject"]
            + ["approve", "approve", "reject"],
            "default": [1, 0, 1, 1, 0, 1, 1],
            "outcome_at": [day, day, day + pd.Timedelta(days=1), day, day, day, day],
        }
    )
    out = ab_tests.cumulative_readout(decisions, [day, day + pd.Timedelta(days=1)])
    first = out[out["day"] == day].set_index("variant")
    assert first.loc["primary", ["loans", "defaults"]].tolist() == [2, 1]
    assert first.loc["challenger", ["loans", "defaults"]].tolist() == [2, 1]
    later = out[out["day"] > day].set_index("variant")
    assert later.loc["primary", "loans"] == 3
    assert later.loc["primary", "rate"] == pytest.approx(2 / 3)
    assert (out["low"] < out["rate"]).all() and (out["rate"] < out["high"]).all()
    with pytest.raises(ValueError, match="outcome_at"):
        ab_tests.cumulative_readout(decisions.drop(columns="outcome_at"), [day])


def clustered_frame(n_units=2_000, rows_per_unit=3, seed=0):
    """Units in two arms whose rows share one outcome: strongly clustered."""
    rng = np.random.default_rng(seed)
    unit_outcome = rng.binomial(1, 0.3, n_units)
    arm = np.where(rng.random(n_units) < 0.5, "b", "a")
    rows = np.repeat(np.arange(n_units), rows_per_unit)
    return pd.DataFrame(
        {"unit": rows, "arm": arm[rows], "y": unit_outcome[rows], "one": 1}
    )


def test_per_unit_sums_each_units_rows_and_refuses_a_unit_in_two_arms():
    frame = pd.DataFrame(
        {"unit": ["u1", "u1", "u2"], "arm": ["a", "a", "b"], "y": [1, 0, 1]}
    )
    units = ab_tests.per_unit(frame, ["y"], unit="unit", arm="arm")
    assert units.to_dict("records") == [
        {"unit": "u1", "arm": "a", "n": 2, "y": 1},
        {"unit": "u2", "arm": "b", "n": 1, "y": 1},
    ]
    frame.loc[1, "arm"] = "b"
    with pytest.raises(ValueError, match="1 units appear in more than one arm"):
        ab_tests.per_unit(frame, ["y"], unit="unit", arm="arm")
    with pytest.raises(ValueError, match="lacks columns"):
        ab_tests.per_unit(frame, ["z"], unit="unit", arm="arm")


def test_ratio_difference_matches_a_cluster_robust_regression():
    frame = clustered_frame()
    units = ab_tests.per_unit(frame, ["y", "one"], unit="unit", arm="arm")
    out = ab_tests.ratio_difference(
        units, "y", "n", arm="arm", treatment="b", control="a"
    )
    means = frame.groupby("arm")["y"].mean()
    assert out["estimate"] == pytest.approx(means["b"] - means["a"])
    x = sm.add_constant((frame["arm"] == "b").astype(float).to_numpy())
    naive = sm.OLS(frame["y"].to_numpy(float), x).fit()
    clustered = sm.OLS(frame["y"].to_numpy(float), x).fit(
        cov_type="cluster", cov_kwds={"groups": frame["unit"].to_numpy()}
    )
    assert out["se"] == pytest.approx(clustered.bse[1], rel=0.01)
    # three identical rows per unit: the naive standard error is about sqrt(3) small
    assert out["se"] / naive.bse[1] == pytest.approx(np.sqrt(3), rel=0.05)
    assert out["low"] < out["estimate"] < out["high"] and 0 < out["p_value"] <= 1
    assert out["treatment_units"] + out["control_units"] == 2_000


def test_ratio_difference_uses_the_denominator_it_is_given():
    units = pd.DataFrame(
        {"arm": ["a", "a", "b", "b"], "k": [1, 0, 2, 1], "m": [2, 2, 2, 2]}
    )
    out = ab_tests.ratio_difference(
        units, "k", "m", arm="arm", treatment="b", control="a"
    )
    assert out["treatment"] == 0.75 and out["control"] == 0.25
    with pytest.raises(ValueError, match="arm 'c'"):
        ab_tests.ratio_difference(
            units, "k", "m", arm="arm", treatment="c", control="a"
        )
