"""Checks for chapter 11's exercises (a data contract, the drift trigger)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from mlops_course import data, retraining, validation
from mlops_course.exercises import exercise, expect, expect_type

MAX_LOAN_TO_INCOME = 5  # the exercise's rule
THRESHOLDS = (0.07, 0.5)  # the exercise's two drift-only policies
COOLDOWN_DAYS = 28
FROM_WEEK = 8


def _refused_rows(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> set:
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as error:
        return set(error.failure_cases["index"].dropna().astype(int))
    except SchemaError as error:  # a schema that is not lazy-friendly
        return set(error.failure_cases["index"].dropna().astype(int))
    return set()


@exercise("ex-11-1")
def loan_rule(stricter) -> str:
    """The contract with a dataframe-wide rule: loan at most five times income."""
    expect_type(stricter, pa.DataFrameSchema, "a pandera DataFrameSchema")
    base = validation.credit_schema()
    lost = sorted(set(base.columns) - set(stricter.columns))
    expect(not lost, f"your schema lost the contract's columns: {', '.join(lost)}")
    clean = data.drift_scenario("none", 500, seed=0).frame.reset_index(drop=True)
    refused = _refused_rows(stricter, clean)
    expect(
        not refused,
        f"it refuses {len(refused)} rows of a clean batch, where every loan is "
        "within five times the income: compare loan_amount with "
        f"{MAX_LOAN_TO_INCOME} * annual_income, row by row",
    )
    probe = clean.copy()
    over, exact = probe["annual_income"].nsmallest(2).index
    probe.loc[over, "loan_amount"] = 5.5 * probe.loc[over, "annual_income"]
    probe.loc[exact, "loan_amount"] = 5.0 * probe.loc[exact, "annual_income"]
    refused = _refused_rows(stricter, probe)
    expect(
        over in refused,
        "a loan of 5.5 times the applicant's income passed: add a check to the "
        "schema (not a column) that receives the frame and returns one boolean per "
        "row, loan_amount <= 5 * annual_income",
    )
    expect(
        refused == {over},
        "a loan of exactly five times the income was refused: 'may not exceed' "
        "allows it (<=, not <)",
    )
    return (
        "a dataframe-wide check relates two columns row by row: a loan above five "
        "times the income fails, the clean batch passes"
    )


def _drift_only(threshold: float) -> retraining.RetrainingPolicy:
    return retraining.RetrainingPolicy(
        max_age_days=None,
        drift_share_threshold=threshold,
        max_metric_drop=None,
        cooldown_days=COOLDOWN_DAYS,
    )


@exercise("ex-11-2")
def drift_sensitivity(runs, *, weeks, simulation) -> str:
    """The downturn year under two drift-only policies, thresholds 0.07 and 0.5."""
    expect_type(runs, Mapping, "a dict: drift-share threshold -> simulated timeline")
    expect(
        set(runs) == set(THRESHOLDS),
        f"runs has thresholds {sorted(runs)}: simulate one policy per threshold, "
        f"{THRESHOLDS[0]} and {THRESHOLDS[1]}",
    )
    counts = {}  # retrains per threshold
    for threshold in THRESHOLDS:
        got = runs[threshold]
        expect_type(got, pd.DataFrame, "the timeline retraining.simulate returns")
        want = retraining.simulate(weeks, _drift_only(threshold), **simulation)
        counts[threshold] = int(want["retrained"].sum())
        expect(
            int(got["retrained"].sum()) == counts[threshold],
            f"your {threshold} run retrained {int(got['retrained'].sum())} times, "
            f"a drift-only policy ({threshold} share, no schedule, no performance "
            f"trigger, a {COOLDOWN_DAYS}-day cooldown) retrains "
            f"{counts[threshold]} times on the downturn year: switch the other "
            "triggers off and keep the cooldown",
        )
        mean = got.loc[got["week"] >= FROM_WEEK, "served_cost"].mean()
        want_mean = want.loc[want["week"] >= FROM_WEEK, "served_cost"].mean()
        expect(
            abs(mean - want_mean) < 1e-9,
            f"your {threshold} run served a mean cost of {mean:.3f} from week "
            f"{FROM_WEEK}, the policy gives {want_mean:.3f}: simulate the downturn "
            "year with the chapter's SIMULATION settings",
        )
    return (
        "both years are the drift-only policies': at 0.07 one drifted feature "
        "fires the trigger, at 0.5 half of them must drift"
    )
