"""Production weeks in four scenarios, with their history (chapter 17).

:func:`production_weeks` builds a year of weekly applications after a history
from the course generator (:mod:`mlops_course.data`): ``gradual_covariate_shift``
(the generator's downturn, taking over over ``ramp_weeks``),
``abrupt_concept_drift`` (its changed risk relationship, all at once),
``harmless_drift`` (features the default does not depend on move) and
``seasonality`` (loan amounts swell every winter, the relationship unchanged, so
default rates follow the season). :data:`PLANTED` says which scenarios plant a
change that should retrain.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from mlops_course import data

#: The four scenarios, and whether each plants a change that should retrain.
PLANTED = {
    "gradual_covariate_shift": True,
    "abrupt_concept_drift": True,
    "harmless_drift": False,
    "seasonality": False,
}
SCENARIOS = tuple(PLANTED)
START = data.REFERENCE_DATE + timedelta(days=365)
#: Features the harmless scenario moves: the true default model ignores them.
HARMLESS_FEATURES = ("num_open_accounts", "region")


def production_weeks(
    scenario: str,
    *,
    n_weeks: int = 52,
    rows_per_week: int = 400,
    history_weeks: int = 29,
    onset_week: int = 8,
    ramp_weeks: int = 8,
    season_amplitude: float = 0.5,
    seed: int = 0,
    start: datetime = START,
) -> pd.DataFrame:
    """Weeks ``-history_weeks .. n_weeks - 1`` of applications in ``scenario``.

    Every scenario starts from the same reference rows for one ``seed`` (one
    :func:`mlops_course.data.drift_scenario` ``"none"`` draw), so all scenarios
    of a seed share their history. Columns ``week`` and ``scenario_share`` (the
    share of the week's rows that the scenario changed; for ``seasonality``,
    how far into its peak the week is) are added.
    """
    if scenario not in PLANTED:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {SCENARIOS}")
    if n_weeks < 1 or rows_per_week < 1 or history_weeks < 0:
        raise ValueError("n_weeks, rows_per_week >= 1 and history_weeks >= 0 needed")
    if not 0 <= onset_week < n_weeks or ramp_weeks < 1:
        raise ValueError("need 0 <= onset_week < n_weeks and ramp_weeks >= 1")
    total = n_weeks + history_weeks
    first = start - timedelta(weeks=history_weeks)
    frame = _reference_rows(total * rows_per_week, seed, first, 7 * total).copy()
    elapsed = frame[data.TIMESTAMP_COLUMN] - pd.Timestamp(first)
    week = (elapsed // pd.Timedelta(weeks=1)).to_numpy().clip(0, total - 1)
    week = week - history_weeks
    rng = np.random.default_rng([seed, 17, SCENARIOS.index(scenario)])
    if scenario == "abrupt_concept_drift":
        share = (week >= onset_week).astype(float)
    else:
        share = np.clip((week - onset_week + 1) / ramp_weeks, 0.0, 1.0)
    if scenario in ("gradual_covariate_shift", "abrupt_concept_drift"):
        name = "covariate_shift" if scenario.startswith("gradual") else "concept_drift"
        after = np.flatnonzero(week >= onset_week)
        drifted = data.drift_scenario(
            name,
            len(after),
            seed=seed + 1_000_003 * (1 + SCENARIOS.index(scenario)),
            start=start + timedelta(weeks=onset_week),
            days=7 * (n_weeks - onset_week),
        ).frame
        take = rng.random(len(after)) < share[after]
        columns = [*data.FEATURES, data.TARGET]
        rows = after[take]
        frame.loc[frame.index[rows], columns] = drifted.loc[take, columns].to_numpy()
        frame = frame.astype({c: drifted[c].dtype for c in columns})
    elif scenario == "harmless_drift":
        take = rng.random(len(frame)) < share
        # A new bureau counts more open accounts; a branch merger moves half of
        # the north's applicants to the west. The true model has no term for
        # the first and the same term (zero) for both regions: labels stand.
        accounts = frame["num_open_accounts"].to_numpy().copy()
        accounts[take] += rng.poisson(3, int(take.sum()))
        region = frame["region"].to_numpy().copy()
        moved = take & (region == "north") & (rng.random(len(frame)) < 0.5)
        region[moved] = "west"
        frame = frame.assign(num_open_accounts=accounts, region=region)
    else:  # seasonality: winter borrowing, every year, history included
        share = (1 + np.cos(2 * np.pi * (week - 0) / 52)) / 2  # peaks in week 0, 52
        factor = 1 + season_amplitude * share
        term = frame["loan_term_months"].to_numpy(dtype=float)
        income = frame["annual_income"].to_numpy(dtype=float)
        loan = frame["loan_amount"].to_numpy(dtype=float)
        payment = loan / (term / 12) * 1.1  # the generator's annual payment
        dti = frame["debt_to_income"].to_numpy(dtype=float)
        frame = frame.assign(
            loan_amount=np.clip(loan * factor, 1_000, 120_000).round(-2),
            debt_to_income=np.clip(dti + (factor - 1) * payment / income, 0, 3).round(
                4
            ),
        )
        p = data.ground_truth_probability(frame)
        frame[data.TARGET] = (rng.random(len(frame)) < p).astype(int)
    return frame.assign(week=week, scenario_share=share)


@functools.lru_cache(maxsize=1)
def _reference_rows(n_rows: int, seed: int, start: datetime, days: float):
    """The reference rows of a seed, kept for its next scenario."""
    return data.drift_scenario("none", n_rows, seed=seed, start=start, days=days).frame
