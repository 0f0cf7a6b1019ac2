"""The running case study: a lender's credit-default data, generated offline.

Every chapter uses this module. It makes loan applications for a fictional
lender, with customer and application ids, event timestamps from a fixed
reference date, a sensitive attribute (``gender``) and a default label drawn
from a known ground-truth model, so a notebook can compare what a model learnt
with what is really there. Named drift scenarios produce a *current* batch
whose drift is known in advance (:class:`DriftTruth`), so monitoring chapters
can check that a detector found what was planted; :func:`drifting_weeks` lets
a scenario take over week by week (the traffic of chapters 11 and 13).

Nothing here reads the environment, the clock or the network: the same
``seed`` gives the same rows on every machine.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd

#: Fixed start of the reference period (no ``now()`` anywhere in the course).
REFERENCE_DATE = datetime(2025, 1, 1, tzinfo=UTC)

TIMESTAMP_COLUMN = "event_timestamp"
TARGET = "default"
SENSITIVE = "gender"

NUMERIC_FEATURES = [
    "age",
    "annual_income",
    "employment_years",
    "credit_history_months",
    "num_open_accounts",
    "num_late_payments_2y",
    "loan_amount",
    "loan_term_months",
    "interest_rate",
    "debt_to_income",
]
CATEGORICAL_FEATURES = ["home_ownership", "loan_purpose", "region"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES

HOME_OWNERSHIP = {"RENT": 0.25, "MORTGAGE": 0.0, "OWN": -0.25}
LOAN_PURPOSE = {
    "debt_consolidation": 0.10,
    "credit_card": 0.0,
    "home_improvement": -0.20,
    "car": -0.30,
    "medical": 0.30,
    "small_business": 0.60,
}
REGIONS = {"north": 0.0, "south": 0.10, "east": -0.05, "west": 0.0}
#: The category that appears only in the ``new_category`` drift scenario.
NEW_PURPOSE = "buy_now_pay_later"
NEW_PURPOSE_EFFECT = 0.80

_INTERCEPT = -1.75  # chosen so that about 12% of reference applications default
_SIGNAL = 0.6


@dataclass(frozen=True)
class DriftTruth:
    """What a drift scenario changed, known before any detector looks."""

    name: str
    description: str
    drifted_features: tuple[str, ...] = ()
    concept_drift: bool = False
    data_quality_issue: bool = False


@dataclass(frozen=True)
class ScenarioData:
    """A batch of applications together with the ground truth of its drift."""

    frame: pd.DataFrame
    truth: DriftTruth


@dataclass(frozen=True)
class _Shift:
    income_factor: float = 1.0
    loan_factor: float = 1.0
    new_purpose_share: float = 0.0
    concept: bool = False
    broken_feed: bool = False


SCENARIOS: dict[str, tuple[DriftTruth, _Shift]] = {
    "none": (
        DriftTruth("none", "No drift: a fresh sample from the reference process."),
        _Shift(),
    ),
    "covariate_shift": (
        DriftTruth(
            "covariate_shift",
            "A downturn: incomes fall 25% and loans grow 20%, so debt-to-income "
            "rises; the link from features to default is unchanged.",
            drifted_features=("annual_income", "loan_amount", "debt_to_income"),
        ),
        _Shift(income_factor=0.75, loan_factor=1.20),
    ),
    "new_category": (
        DriftTruth(
            "new_category",
            f"A new loan purpose, '{NEW_PURPOSE}', unseen in training, takes 30% "
            "of applications and defaults more often.",
            drifted_features=("loan_purpose",),
        ),
        _Shift(new_purpose_share=0.30),
    ),
    "concept_drift": (
        DriftTruth(
            "concept_drift",
            "Feature distributions stay put but the relationship changes: late "
            "payments and debt-to-income weigh twice as much.",
            concept_drift=True,
        ),
        _Shift(concept=True),
    ),
    "broken_feed": (
        DriftTruth(
            "broken_feed",
            "An upstream bug: income arrives in thousands instead of units and "
            "employment years are missing for 40% of rows. Labels follow the "
            "true values.",
            drifted_features=("annual_income", "employment_years"),
            data_quality_issue=True,
        ),
        _Shift(broken_feed=True),
    ),
}


class Split(NamedTuple):
    """Train, validation and test frames, in time order."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return (prefix + pd.Series(numbers).astype(str).str.zfill(width)).to_numpy()


def ground_truth_logit(
    frame: pd.DataFrame, *, concept_drift: bool = False
) -> np.ndarray:
    """Log-odds of default under the generator's true model (no gender term)."""
    dti = frame["debt_to_income"].to_numpy(dtype=float)
    late = frame["num_late_payments_2y"].to_numpy(dtype=float)
    w_dti, w_late, w_income = (1.8, 0.70, 0.5) if concept_drift else (0.9, 0.35, 1.0)
    purpose_effect = dict(LOAN_PURPOSE, **{NEW_PURPOSE: NEW_PURPOSE_EFFECT})
    signal = (
        w_dti * (dti - 0.35) / 0.12
        + 0.8 * (dti > 0.5)  # a threshold effect that trees can find
        + w_late * late
        - w_income * np.log(frame["annual_income"].to_numpy(dtype=float) / 50_000)
        - 0.015 * (frame["age"].to_numpy(dtype=float) - 40)
        - 0.04 * frame["employment_years"].to_numpy(dtype=float)
        - 0.003 * (frame["credit_history_months"].to_numpy(dtype=float) - 120)
        + 0.25 * (frame["interest_rate"].to_numpy(dtype=float) - 12) / 4
        + 0.3 * (frame["loan_term_months"].to_numpy() == 60)
        + frame["loan_purpose"].map(purpose_effect).to_numpy(dtype=float)
        + frame["home_ownership"].map(HOME_OWNERSHIP).to_numpy(dtype=float)
        + frame["region"].map(REGIONS).to_numpy(dtype=float)
    )
    # Scaled down so that, as with real credit data, much of the risk stays unexplained.
    z = _INTERCEPT + _SIGNAL * signal
    if concept_drift:
        z = z + 0.4
    return z


def ground_truth_probability(
    frame: pd.DataFrame, *, concept_drift: bool = False
) -> np.ndarray:
    """Probability of default under the generator's true model."""
    return 1.0 / (1.0 + np.exp(-ground_truth_logit(frame, concept_drift=concept_drift)))


def _generate(
    n_rows: int, seed: int, start: datetime, days: float, shift: _Shift
) -> pd.DataFrame:
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (for example REFERENCE_DATE)")
    rng = np.random.default_rng(seed)

    # Customers first, so that a customer's profile is the same on every application.
    n_customers = max(1, round(n_rows / 1.4))
    gender = rng.choice(np.array(["F", "M"]), size=n_customers)
    age = np.clip(rng.normal(41, 12, n_customers), 18, 80).round().astype(int)
    # A historical pay gap: the generator's one route from gender to default.
    income = rng.lognormal(np.log(52_000), 0.45, n_customers)
    income *= np.where(gender == "F", 0.80, 1.0)
    employment = rng.gamma(2.0, 3.5, n_customers) * np.where(gender == "F", 0.8, 1.0)
    employment = np.clip(employment, 0, age - 17).round(1)
    history = np.clip(rng.normal((age - 18) * 9, 30), 0, None).round().astype(int)
    late = rng.poisson(0.35, n_customers)
    home = rng.choice(
        np.array(list(HOME_OWNERSHIP)), p=[0.40, 0.40, 0.20], size=n_customers
    )
    region = rng.choice(np.array(list(REGIONS)), size=n_customers)
    open_accounts = rng.poisson(4, n_customers)

    who = rng.integers(0, n_customers, n_rows)
    offsets = np.sort(rng.uniform(0, days * 86_400, n_rows)).round()
    purpose = rng.choice(
        np.array(list(LOAN_PURPOSE)),
        p=[0.35, 0.20, 0.15, 0.15, 0.05, 0.10],
        size=n_rows,
    ).astype(object)
    if shift.new_purpose_share:
        new = rng.random(n_rows) < shift.new_purpose_share
        purpose[new] = NEW_PURPOSE
    term = rng.choice(np.array([12, 24, 36, 60]), p=[0.1, 0.25, 0.4, 0.25], size=n_rows)
    app_income = income[who] * shift.income_factor
    loan = np.clip(
        app_income * rng.lognormal(np.log(0.22), 0.5, n_rows), 1_000, 100_000
    )
    loan = (loan * shift.loan_factor).round(-2)
    existing_debt = rng.gamma(2.0, 0.08, n_rows) * app_income
    annual_payment = loan / (term / 12) * 1.1
    dti = np.clip((existing_debt + annual_payment) / app_income, 0, 3).round(4)
    rate = np.clip(
        rng.normal(11, 2.5, n_rows) + 1.2 * late[who] + 0.02 * (term - 36), 3, 30
    ).round(2)

    frame = pd.DataFrame(
        {
            "application_id": _ids("A", np.arange(1, n_rows + 1), 8),
            "customer_id": _ids("C", who + 1, 7),
            TIMESTAMP_COLUMN: pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s"),
            "age": age[who],
            "annual_income": app_income.round(0),
            "employment_years": employment[who],
            "credit_history_months": history[who],
            "num_open_accounts": open_accounts[who],
            "num_late_payments_2y": late[who],
            "loan_amount": loan,
            "loan_term_months": term,
            "interest_rate": rate,
            "debt_to_income": dti,
            "home_ownership": home[who],
            "loan_purpose": purpose,
            "region": region[who],
            SENSITIVE: gender[who],
        }
    )
    p = ground_truth_probability(frame, concept_drift=shift.concept)
    frame[TARGET] = (rng.random(n_rows) < p).astype(int)
    if shift.broken_feed:
        frame["annual_income"] = (frame["annual_income"] / 1_000).round(1)
        frame["employment_years"] = frame["employment_years"].mask(
            rng.random(n_rows) < 0.4
        )
    for name in CATEGORICAL_FEATURES + [SENSITIVE]:
        frame[name] = frame[name].astype(str)
    return frame


def generate_applications(
    n_rows: int = 10_000,
    *,
    seed: int = 42,
    start: datetime = REFERENCE_DATE,
    days: float = 365,
) -> pd.DataFrame:
    """Loan applications from the reference process, sorted by event time."""
    return _generate(n_rows, seed, start, days, _Shift())


def drift_scenario(
    name: str,
    n_rows: int = 5_000,
    *,
    seed: int = 7,
    start: datetime = REFERENCE_DATE + timedelta(days=365),
    days: float = 30,
) -> ScenarioData:
    """A *current* batch with the named drift applied, and the drift's ground truth.

    By default the batch covers the 30 days right after the reference year.
    """
    if name not in SCENARIOS:
        raise ValueError(
            f"unknown drift scenario {name!r}; choose one of {sorted(SCENARIOS)}"
        )
    truth, shift = SCENARIOS[name]
    return ScenarioData(_generate(n_rows, seed, start, days, shift), truth)


def drifting_weeks(
    n_weeks: int,
    *,
    scenario: str = "covariate_shift",
    onset_week: int = 8,
    ramp_weeks: int = 4,
    rows_per_week: int = 1_000,
    history_weeks: int = 0,
    seed: int = 0,
    start: datetime = REFERENCE_DATE + timedelta(days=365),
    mixing: str = "random",
    scenario_seed: int | None = None,
) -> pd.DataFrame:
    """Applications week by week, in which ``scenario`` replaces the reference process.

    Weeks ``-history_weeks .. -1`` come before ``start`` (the history the first
    model learns from), weeks ``0 .. n_weeks - 1`` after it. Before
    ``onset_week`` every row comes from the reference process; the share of
    ``scenario`` rows then grows linearly to 100% over ``ramp_weeks`` weeks. The
    frame has a ``week`` and a ``scenario_share`` column. The reference rows
    depend on ``seed`` only, so two scenarios with one seed share their history
    and every week before the onset.

    ``mixing`` says which rows of a week come from ``scenario``: ``"random"``
    (weeks by event time, each row a scenario row with the week's share as
    probability) or ``"blocks"`` (weeks of exactly ``rows_per_week`` rows in
    time order, the last ``round(share * rows_per_week)`` of them taken from the
    scenario's rows of the same week). The scenario's rows are drawn with
    ``scenario_seed`` (by default one apart from ``seed`` per scenario); given
    explicitly, even ``"none"`` draws them (a second sample of the reference
    process).
    """
    if n_weeks < 1 or rows_per_week < 1 or history_weeks < 0:
        raise ValueError(
            "n_weeks and rows_per_week must be at least 1, history_weeks >= 0"
        )
    if onset_week < 0 or ramp_weeks < 1:
        raise ValueError("onset_week must be >= 0 and ramp_weeks >= 1")
    if mixing not in ("random", "blocks"):
        raise ValueError(f"mixing must be 'random' or 'blocks', got {mixing!r}")
    total = n_weeks + history_weeks
    first = start - timedelta(weeks=history_weeks)
    period = {"start": first, "days": 7 * total}
    frame = _reference_rows(total * rows_per_week, seed, first, 7 * total).copy()
    if mixing == "random":
        elapsed = frame[TIMESTAMP_COLUMN] - pd.Timestamp(first)
        week = (elapsed // pd.Timedelta(weeks=1)).to_numpy().clip(0, total - 1)
    else:
        week = np.arange(len(frame)) // rows_per_week
    week = week - history_weeks
    share = np.clip((week - onset_week + 1) / ramp_weeks, 0.0, 1.0)
    if share.any() and (scenario != "none" or scenario_seed is not None):
        # A seed apart from the reference rows' (and per scenario), never reused.
        offset = 1 + sorted(SCENARIOS).index(scenario)
        if scenario_seed is None:
            scenario_seed = seed + 1_000_003 * offset
        drifted = drift_scenario(scenario, len(frame), seed=scenario_seed, **period)
        if mixing == "random":
            take = np.random.default_rng([seed, offset]).random(len(frame)) < share
            source = np.flatnonzero(take)
        else:
            kept = rows_per_week - np.round(share * rows_per_week).astype(int)
            take = np.arange(len(frame)) % rows_per_week >= kept
            source = np.flatnonzero(take) - kept[take]
        columns = [*FEATURES, TARGET]
        frame.loc[take, columns] = drifted.frame[columns].to_numpy()[source]
        frame = frame.astype({c: drifted.frame[c].dtype for c in columns})
    return frame.assign(week=week, scenario_share=share)


@functools.lru_cache(maxsize=1)
def _reference_rows(n_rows: int, seed: int, start: datetime, days: float):
    """The reference process's rows (kept for the next scenario of the same seed)."""
    return drift_scenario("none", n_rows, seed=seed, start=start, days=days).frame


def time_split(
    frame: pd.DataFrame,
    *,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.15,
    time_column: str = TIMESTAMP_COLUMN,
) -> Split:
    """Split by event time: past trains, near future validates, the last part tests."""
    if not 0 < valid_fraction < 1 or not 0 < test_fraction < 1:
        raise ValueError("valid_fraction and test_fraction must be between 0 and 1")
    if valid_fraction + test_fraction >= 1:
        raise ValueError("valid_fraction + test_fraction must leave rows to train on")
    ordered = frame.sort_values(time_column, kind="stable")
    times = ordered[time_column]
    valid_start = times.quantile(1 - valid_fraction - test_fraction)
    test_start = times.quantile(1 - test_fraction)
    train = ordered[times < valid_start]
    valid = ordered[(times >= valid_start) & (times < test_start)]
    test = ordered[times >= test_start]
    return Split(train, valid, test)
