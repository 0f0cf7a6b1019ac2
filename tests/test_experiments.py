"""Delayed outcomes and the running A/B readout."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_course import experiments
from mlops_course.data import generate_applications


def test_outcomes_arrive_between_the_delays():
    frame = experiments.with_outcome_dates(generate_applications(500, seed=1), seed=2)
    delay = (frame["outcome_at"] - frame["event_timestamp"]).dt.days
    assert delay.between(30, 90).all() and delay.nunique() > 30
    again = experiments.with_outcome_dates(generate_applications(500, seed=1), seed=2)
    pd.testing.assert_series_equal(frame["outcome_at"], again["outcome_at"])
    with pytest.raises(ValueError, match="min_days"):
        experiments.with_outcome_dates(frame, min_days=10, max_days=5)


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
    out = experiments.cumulative_readout(decisions, [day, day + pd.Timedelta(days=1)])
    first = out[out["day"] == day].set_index("variant")
    assert first.loc["primary", ["loans", "defaults"]].tolist() == [2, 1]
    assert first.loc["challenger", ["loans", "defaults"]].tolist() == [2, 1]
    later = out[out["day"] > day].set_index("variant")
    assert later.loc["primary", "loans"] == 3
    assert later.loc["primary", "rate"] == pytest.approx(2 / 3)
    assert (out["low"] < out["rate"]).all() and (out["rate"] < out["high"]).all()
    with pytest.raises(ValueError, match="outcome_at"):
        experiments.cumulative_readout(decisions.drop(columns="outcome_at"), [day])
