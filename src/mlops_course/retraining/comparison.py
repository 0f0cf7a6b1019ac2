"""Retraining policies compared over many simulated years (chapter 11).

:func:`compare_policies` runs several policies on the same weeks of every
scenario and seed (a paired design); :func:`paired_difference` compares two
of them per scenario with a t interval over the seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
from scipy.stats import t as student_t

from mlops_course.data import drifting_weeks
from mlops_course.retraining.policy import TRIGGERS, RetrainingPolicy
from mlops_course.retraining.simulation import ScenarioStream, simulate


def compare_policies(
    policies: Mapping[str, RetrainingPolicy | None],
    scenarios: Sequence[str],
    seeds: Sequence[int],
    *,
    n_weeks: int,
    rows_per_week: int,
    onset_week: int = 8,
    ramp_weeks: int = 4,
    label_delay_weeks: int = 17,
    train_weeks: int = 12,
    valid_weeks: int = 3,
    monitor_weeks: int = 4,
    drift_weeks: int = 2,
    reference_rows: int = 2_000,
) -> pd.DataFrame:
    """Every policy on every scenario and seed: one row per (seed, scenario, policy).

    All policies of one seed and scenario serve the same weeks (a paired design),
    and share the models they happen to fit in the same week. Each row has the
    mean expected cost per application and mean ROC AUC from ``onset_week`` on,
    the number of retrains, the week of the first (NaN if none), the weeks of
    all of them and the triggers that fired.
    """
    rows = []
    history = label_delay_weeks + train_weeks
    for seed in seeds:
        shared: dict = {}  # models fitted before the onset serve every scenario
        for scenario in scenarios:
            frame = drifting_weeks(
                n_weeks,
                scenario=scenario,
                onset_week=onset_week,
                ramp_weeks=ramp_weeks,
                rows_per_week=rows_per_week,
                history_weeks=history,
                seed=seed,
            )
            stream = ScenarioStream(
                frame,
                label_delay_weeks=label_delay_weeks,
                train_weeks=train_weeks,
                valid_weeks=valid_weeks,
                reference_rows=reference_rows,
                shared=shared,
            )
            for label, policy in policies.items():
                timeline = simulate(
                    frame,
                    policy,
                    label_delay_weeks=label_delay_weeks,
                    train_weeks=train_weeks,
                    valid_weeks=valid_weeks,
                    monitor_weeks=monitor_weeks,
                    drift_weeks=drift_weeks,
                    _stream=stream,
                )
                after = timeline[timeline["week"] >= onset_week]
                fired = {t for ts in timeline["triggers"] for t in ts.split(",") if t}
                rows.append(
                    {
                        "seed": seed,
                        "scenario": scenario,
                        "policy": label,
                        "cost": float(after["served_cost"].mean()),
                        "auc": float(after["served_auc"].mean()),
                        "retrains": int(timeline["retrained"].sum()),
                        "first_retrain": timeline.loc[
                            timeline["retrained"], "week"
                        ].min(),
                        "retrain_weeks": tuple(
                            int(w) for w in timeline.loc[timeline["retrained"], "week"]
                        ),
                        "triggers": ",".join(t for t in TRIGGERS if t in fired),
                    }
                )
    return pd.DataFrame(rows)


def paired_difference(
    results: pd.DataFrame,
    policy: str,
    baseline: str,
    *,
    value: str = "cost",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per scenario: mean of ``policy - baseline`` over seeds, with a t interval.

    The seed is the unit: both policies served the same weeks of each seed, so
    the differences are paired.
    """
    table = results.pivot_table(
        index=["scenario", "seed"], columns="policy", values=value
    )
    diff = (table[policy] - table[baseline]).groupby(level="scenario", sort=False)
    out = []
    for scenario, values in diff:
        n = len(values)
        if n < 2:
            raise ValueError("an interval needs at least two seeds")
        half = student_t.ppf((1 + confidence) / 2, n - 1) * values.std(ddof=1)
        half /= math.sqrt(n)
        mean = float(values.mean())
        out.append(
            {
                "scenario": scenario,
                "policy": policy,
                "baseline": baseline,
                "mean": mean,
                "low": mean - half,
                "high": mean + half,
                "seeds": n,
            }
        )
    return pd.DataFrame(out)
