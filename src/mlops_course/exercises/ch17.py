"""Checks for chapter 17's exercises (a seasonal reference, the price of a retrain)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlops_course import continuous_training as ct
from mlops_course import modeling, retraining
from mlops_course.exercises import exercise, expect, expect_type

DRIFTED = 0.15  # the exercise's drift share
YEAR = 52  # weeks
PRICES = (0.0, 500.0)  # the exercise's retrain prices
N_SEEDS = 10  # the exercise's seeds
SCENARIO = "gradual_covariate_shift"


@exercise("ex-17-1")
def seasonal_reference(against_training, last_year, *, stream, n_weeks) -> str:
    """Weeks drifted by 15%: against week 0's model, against a year before."""
    for answer in (against_training, last_year):
        expect_type(answer, Sequence, "lists of booleans, one per week compared")
    expect(
        len(against_training) == n_weeks,
        f"{len(against_training)} weeks against the training window: compare each "
        f"of the {n_weeks} served weeks",
    )
    earlier = [w for w in range(n_weeks) if w - YEAR >= stream.first]
    expect(
        len(last_year) == len(earlier),
        f"{len(last_year)} weeks against a year before: {len(earlier)} served weeks "
        "have the same week 52 weeks earlier in the history",
    )
    model = stream.model(0)
    want_training = [stream.drift_share(model, w) >= DRIFTED for w in range(n_weeks)]
    expect(
        [bool(x) for x in against_training] == want_training,
        "your weeks against the training window are not the trigger's: compare each "
        "week with the week-0 model's reference, a share of at least 15%",
    )
    want_year = [
        ct.drift_share(
            ct.DriftSample(stream.rows(w - YEAR)), ct.DriftSample(stream.rows(w))
        )
        >= DRIFTED
        for w in earlier
    ]
    expect(
        [bool(x) for x in last_year] == want_year,
        "your weeks against a year before are not week w compared with week w - 52 "
        "(rows(w - 52) as the reference, rows(w) as the current sample)",
    )
    return (
        "both comparisons are the trigger's: against the training window the "
        "season counts as drift, against the same week a year earlier it does not"
    )


def priced_saving(results, price, seed) -> dict:
    priced = results[results["scenario"] == SCENARIO].copy()
    priced = priced[priced["seed"] < seed + N_SEEDS]
    priced["total_cost"] = priced["decision_cost"] + price * priced["retrains"]
    row = retraining.paired_difference(
        priced, "trigger", "schedule", value="total_cost"
    ).iloc[0]
    low, high = -row["high"], -row["low"]
    return {
        "saving": -row["mean"],
        "low": low,
        "high": high,
        "verdict": modeling.interval_verdict(low, high),
    }


@exercise("ex-17-2")
def price_matters(savings, *, results, seed) -> str:
    """The trigger's saving over the schedule, with retrains at 0 and at 500."""
    expect_type(savings, Mapping, "a dict: price -> saving, low, high, verdict")
    expect(
        set(savings) == set(PRICES),
        f"savings has prices {sorted(savings)}: compare at {PRICES[0]:g} and "
        f"{PRICES[1]:g}",
    )
    want = {price: priced_saving(results, price, seed) for price in PRICES}
    expect(
        savings[PRICES[0]]["saving"] != savings[PRICES[1]]["saving"],
        "your two prices give the same saving: add price x retrains to each "
        "policy's decision cost before pairing them by seed",
    )
    for price in PRICES:
        got = savings[price]
        expect(
            abs(got["saving"] - want[price]["saving"]) < 1e-6,
            f"at price {price:g} your saving is {got['saving']:+.0f}, the trigger "
            f"saves {want[price]['saving']:+.0f} against the schedule on "
            f"{SCENARIO}, over {N_SEEDS} seeds (schedule's total cost minus the "
            "trigger's)",
        )
        expect(
            got["verdict"] == want[price]["verdict"],
            f"at price {price:g} the interval [{want[price]['low']:+.0f}, "
            f"{want[price]['high']:+.0f}] says {want[price]['verdict']!r}, "
            f"not {got['verdict']!r}: read the verdict from the interval",
        )
    reads = {
        "better": "favours the trigger",
        "worse": "favours the schedule",
        "undecided": "ranks neither",
    }
    low, high = (reads[want[price]["verdict"]] for price in PRICES)
    return (
        f"at {PRICES[0]:g} per retrain the interval {low}, at {PRICES[1]:g} it "
        f"{high}: state the price with the verdict"
    )
