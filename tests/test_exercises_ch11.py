"""Chapter 11's exercise checks, on a right answer and on wrong ones."""

import pandera.pandas as pa
import pytest

from mlops_course import data, retraining, validation
from mlops_course.exercises import ch11


def with_rule(rule):
    base = validation.credit_schema()
    check = pa.Check(rule, name="loan_to_income")
    return pa.DataFrameSchema(base.columns, checks=[check], name=base.name)


def test_loan_rule_accepts_at_most_five_times_income():
    fb = ch11.loan_rule(with_rule(lambda f: f["loan_amount"] <= 5 * f["annual_income"]))
    assert fb.ok is True, fb.message


def test_loan_rule_refuses_a_rule_that_is_too_strict():
    fb = ch11.loan_rule(
        with_rule(lambda f: f["loan_amount"] <= 0.5 * f["annual_income"])
    )
    assert fb.ok is False
    assert "rows of a clean batch, where every loan is within five times" in fb.message


def test_loan_rule_refuses_a_strict_inequality_and_no_rule():
    fb = ch11.loan_rule(with_rule(lambda f: f["loan_amount"] < 5 * f["annual_income"]))
    assert fb.message.startswith("a loan of exactly five times the income was refused")
    fb = ch11.loan_rule(validation.credit_schema())
    assert fb.ok is False
    assert fb.message.startswith("a loan of 5.5 times the applicant's income passed")


def test_loan_rule_refuses_a_schema_without_the_contract():
    fb = ch11.loan_rule(
        pa.DataFrameSchema(checks=[pa.Check(lambda f: f["loan_amount"] > 0)])
    )
    assert fb.ok is False and "your schema lost the contract's columns" in fb.message


SIMULATION = {"label_delay_weeks": 17, "train_weeks": 12}


@pytest.fixture(scope="module")
def downturn():
    return data.drifting_weeks(
        30,
        scenario="covariate_shift",
        rows_per_week=300,
        history_weeks=29,
        seed=4,
    )


def runs(weeks, **policy):
    out = {}
    for threshold in ch11.THRESHOLDS:
        settings = dict(
            max_age_days=None,
            drift_share_threshold=threshold,
            max_metric_drop=None,
            cooldown_days=28,
        )
        chosen = retraining.RetrainingPolicy(**(settings | policy))
        out[threshold] = retraining.simulate(weeks, chosen, **SIMULATION)
    return out


@pytest.mark.slow
def test_drift_sensitivity_accepts_the_two_drift_only_years(downturn):
    fb = ch11.drift_sensitivity(runs(downturn), weeks=downturn, simulation=SIMULATION)
    assert fb.ok is True, fb.message


@pytest.mark.slow
def test_drift_sensitivity_refuses_a_policy_with_the_schedule_on(downturn):
    scheduled = runs(downturn, max_age_days=35)
    fb = ch11.drift_sensitivity(scheduled, weeks=downturn, simulation=SIMULATION)
    assert fb.ok is False
    assert "switch the other triggers off and keep the cooldown" in fb.message


def test_drift_sensitivity_refuses_other_thresholds(downturn):
    fb = ch11.drift_sensitivity({0.15: None}, weeks=downturn, simulation=SIMULATION)
    assert fb.ok is False
    assert fb.message.startswith("runs has thresholds [0.15]")
