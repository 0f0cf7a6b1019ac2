"""Checks for chapter 21's exercises (responsible AI: fairness, explanations)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_course import fairness_gate
from mlops_course.exercises import exercise, expect, expect_type
from mlops_course.gates import Check


@exercise("ex-21-1")
def age_band_gaps(age_frame, *, y_true, refuse, age_bands) -> str:
    """A MetricFrame of the champion's refusal rate by age band."""
    from fairlearn.metrics import MetricFrame

    expect_type(age_frame, MetricFrame, "a fairlearn MetricFrame")
    by_group = age_frame.by_group
    expect(
        isinstance(by_group, pd.DataFrame),
        "give MetricFrame a dict of metrics (refusal rate and false-positive rate), "
        "so that by_group has one column per metric",
    )
    bands = sorted(str(b) for b in pd.Series(age_bands).dropna().unique())
    groups = sorted(str(g) for g in by_group.index)
    expect(
        groups == bands,
        f"the frame's groups are {groups}, not the age bands {bands}: pass "
        "sensitive_features=age_bands",
    )
    truth = fairness_gate.group_rates(y_true, refuse, pd.Series(age_bands).astype(str))
    refusal = [
        c
        for c in by_group.columns
        if np.allclose(
            by_group[c].to_numpy(dtype=float),
            truth.loc[[str(g) for g in by_group.index], "selection_rate"].to_numpy(),
        )
    ]
    expect(
        bool(refusal),
        "no column of the frame is the champion's refusal rate per band: use "
        "selection_rate on the champion's decisions (1 = refuse)",
    )
    most = truth["selection_rate"].idxmax()
    return (
        "the champion's refusal rate per age band, measured with MetricFrame; the "
        f"{most} band is refused most"
    )


@exercise("ex-21-2")
def slight_error_gate(refuse_slight, check, *, y_true, refuse_champion, group) -> str:
    """The fairness check of a challenger retrained with a smaller partner error."""
    refuse_slight = np.asarray(refuse_slight)
    expect(
        refuse_slight.shape == np.asarray(refuse_champion).shape,
        f"the decisions have shape {refuse_slight.shape}; the holdout has "
        f"{np.asarray(refuse_champion).shape}: decide on the test period's rows",
    )
    expect(
        not np.array_equal(refuse_slight, np.asarray(refuse_champion)),
        "these are the champion's own decisions: gate the retrained challenger's",
    )
    expect_type(check, Check, "the Check that fairness_gate.fairness_check returns")
    expect(
        "false_positive_rate" in check.name,
        f"{check.name!r} does not gate the false-positive-rate gap: pass "
        "metric='false_positive_rate'",
    )
    change, _, _ = fairness_gate.gap_change_interval(
        y_true, refuse_slight, refuse_champion, group, "false_positive_rate"
    )
    expect(
        check.estimate is not None and np.isclose(check.estimate, change),
        "the check's estimate is not the change in the false-positive-rate gap of "
        "these decisions against the champion's on the same holdout: pass the "
        "challenger's decisions first and the champion's second",
    )
    expect(
        check.passed == bool(check.low <= check.threshold),
        "the verdict does not follow its interval",
    )
    reading = (
        "the interval lies above zero: refused on evidence"
        if not check.passed
        else "the interval reaches zero or below: the holdout cannot show a "
        "widening, so it passes"
    )
    return f"the false-positive-rate gap, gated on the same holdout; {reading}"
