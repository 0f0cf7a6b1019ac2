"""The simulation and the study: :class:`Stream`, :func:`simulate`, :func:`study`.

Serve the weeks of a scenario (:func:`.scenarios.production_weeks`), score
them prequentially once their labels mature ``label_delay_weeks`` later, and
retrain (through the data and model gates) when a policy
(:func:`.trigger.decide`) says so; :func:`study` runs every policy on every
scenario and seed, on the same weeks (paired). Chapter 17.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from mlops_course import data, modeling
from mlops_course.continuous_training.drift import DriftSample, drift_share
from mlops_course.continuous_training.estimation import estimated_cost
from mlops_course.continuous_training.gate import fast_gate
from mlops_course.continuous_training.scenarios import production_weeks
from mlops_course.continuous_training.trigger import (
    RECORD_COLUMNS,
    TriggerPolicy,
    decide,
)

_CATEGORIES = {
    "home_ownership": sorted(data.HOME_OWNERSHIP),
    "loan_purpose": sorted([*data.LOAN_PURPOSE, data.NEW_PURPOSE]),
    "region": sorted(data.REGIONS),
}


def _one_hot(frame: pd.DataFrame) -> np.ndarray:
    return np.hstack(
        [
            frame[c].to_numpy().astype(str)[:, None] == np.array(v)
            for c, v in _CATEGORIES.items()
        ]
    )


class _Scorer:
    """Chapter 1's logistic regression on arrays: impute, scale, fit.

    The same model as ``modeling.make_model("logreg")`` (median imputation,
    standard scaling, one-hot categories, L2 with C=1); Newton's method finds
    the same optimum as the default solver in a few steps.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        k = len(data.NUMERIC_FEATURES)
        self.median = np.nanmedian(X[:, :k], axis=0)
        X = self._impute(X)
        self.mean, scale = X[:, :k].mean(axis=0), X[:, :k].std(axis=0)
        self.scale = np.where(scale == 0, 1.0, scale)
        fitted = LogisticRegression(solver="newton-cholesky").fit(self._scale(X), y)
        self.coef, self.intercept = fitted.coef_[0], float(fitted.intercept_[0])

    def _impute(self, X: np.ndarray) -> np.ndarray:
        k = len(data.NUMERIC_FEATURES)
        numbers = np.where(np.isnan(X[:, :k]), self.median, X[:, :k])
        return np.hstack([numbers, X[:, k:]])

    def _scale(self, X: np.ndarray) -> np.ndarray:
        k = len(data.NUMERIC_FEATURES)
        return np.hstack([(X[:, :k] - self.mean) / self.scale, X[:, k:]])

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = self._scale(self._impute(X)) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


@dataclass
class Model:
    """A model of the simulation: when it was trained and what it measured then."""

    scorer: _Scorer
    trained_week: int
    threshold: float
    baseline_cost: float
    baseline_estimate: float
    holdout: tuple[int, ...]  # its validation weeks (the gate's holdout)
    reference: DriftSample


class Stream:
    """One scenario's weeks for one seed, with every model fitted on them (cached).

    A retrain at the start of week ``w`` learns from the ``train_weeks`` newest
    weeks whose labels have matured (up to ``w - label_delay_weeks - 1``); the
    last ``valid_weeks`` of them choose its threshold (chapter 1's costs), give
    its baseline cost and serve as the gate's holdout. Its drift reference is a
    fixed sample of ``reference_rows`` of those weeks.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        label_delay_weeks: int = 17,
        train_weeks: int = 12,
        valid_weeks: int = 3,
        reference_rows: int = 1_500,
        shared: dict | None = None,
    ) -> None:
        if not 1 <= valid_weeks < train_weeks:
            raise ValueError("need 1 <= valid_weeks < train_weeks")
        if reference_rows <= 1_000:
            raise ValueError("reference_rows must exceed 1,000 (Evidently's tests)")
        frame = frame.sort_values("week", kind="stable").reset_index(drop=True)
        weeks = frame["week"].to_numpy()
        starts = np.flatnonzero(np.diff(weeks, prepend=weeks[0] - 1))
        bounds = dict(
            zip(
                weeks[starts].tolist(),
                zip(starts, [*starts[1:], len(frame)], strict=True),
                strict=True,
            )
        )
        X = np.hstack([frame[data.NUMERIC_FEATURES].to_numpy(float), _one_hot(frame)])
        y = frame[data.TARGET].to_numpy()
        self.frame = frame
        self.bounds = {int(w): (int(i), int(j)) for w, (i, j) in bounds.items()}
        self.X = {w: X[i:j] for w, (i, j) in self.bounds.items()}
        self.y = {w: y[i:j] for w, (i, j) in self.bounds.items()}
        self.first, self.last = min(self.bounds), max(self.bounds)
        self.delay, self.train_weeks = label_delay_weeks, train_weeks
        self.valid_weeks, self.reference_rows = valid_weeks, reference_rows
        self.models: dict[int, Model] = {}
        # Models that learnt only weeks before the change are the same in every
        # scenario of a seed: ``shared`` (one dict per seed) keeps them.
        changed = frame.loc[frame["scenario_share"] > 0, "week"]
        self.onset = int(changed.min()) if len(changed) else self.last + 1
        self.shared = {} if shared is None else shared
        self._samples: dict[int, DriftSample] = {}
        self._proba: dict[tuple[int, int], np.ndarray] = {}
        self._drift: dict[tuple[int, int], float] = {}

    def rows(self, week: int) -> pd.DataFrame:
        i, j = self.bounds[week]
        return self.frame.iloc[i:j]

    def window(self, week: int) -> list[int]:
        """The weeks a retrain at the start of ``week`` learns from."""
        end = week - self.delay
        window = list(range(end - self.train_weeks, end))
        if window[0] < self.first:
            raise ValueError(
                f"a retrain in week {week} needs week {window[0]}; the stream "
                f"starts in week {self.first}: give it more history_weeks"
            )
        return window

    def model(self, week: int) -> Model:
        """The model a retrain at the start of ``week`` produces (fitted once)."""
        unchanged = self.window(week)[-1] < self.onset
        if week not in self.models and unchanged and week in self.shared:
            self.models[week] = self.shared[week]
        if week not in self.models:
            window = self.window(week)
            fit, valid = window[: -self.valid_weeks], window[-self.valid_weeks :]
            scorer = _Scorer(
                np.vstack([self.X[w] for w in fit]),
                np.concatenate([self.y[w] for w in fit]),
            )
            y = np.concatenate([self.y[w] for w in valid])
            p = scorer.predict(np.vstack([self.X[w] for w in valid]))
            threshold, cost = modeling.best_threshold(y, p)
            i, j = self.bounds[window[0]][0], self.bounds[window[-1]][1]
            rows = self.frame.iloc[i:j]
            if len(rows) > self.reference_rows:
                rows = rows.sample(self.reference_rows, random_state=0)
            self.models[week] = Model(
                scorer,
                week,
                threshold,
                cost,
                estimated_cost(p, threshold),
                tuple(valid),
                DriftSample(rows),
            )
            if unchanged:
                self.shared[week] = self.models[week]
        return self.models[week]

    def proba(self, model: Model, week: int) -> np.ndarray:
        key = (model.trained_week, week)
        if key not in self._proba:
            self._proba[key] = model.scorer.predict(self.X[week])
        return self._proba[key]

    def drift_share(self, model: Model, week: int) -> float:
        """Share of drifted features of ``week`` against ``model``'s reference."""
        key = (model.trained_week, week)
        if key not in self._drift:
            if week not in self._samples:
                self._samples[week] = DriftSample(self.rows(week))
            self._drift[key] = drift_share(model.reference, self._samples[week])
        return self._drift[key]


def simulate(stream: Stream, policy: TriggerPolicy | None) -> pd.DataFrame:
    """Serve weeks ``0 ..`` of ``stream``; retrain through the gate when told.

    At the start of each week, :func:`decide` reads the served model's record.
    A retrain fits a challenger (:meth:`Stream.model`), and the model gate
    (:func:`fast_gate` on the challenger's holdout weeks, the champion scored on
    the same rows) decides whether it serves. Returns one row per week:
    applications, the served model's week, drift share (only for a policy that
    watches drift), estimated and realised cost per application (prequential:
    the model that served the week, scored on the week's labels once they
    mature), whether a retrain ran, whether the gate promoted it, and why.
    """
    champion = stream.model(0)
    last_retrain = 0
    records: list[dict] = []
    watch = policy is not None and policy.drift_share is not None
    for w in range(0, stream.last + 1):
        retrained = promoted = False
        reason = ""
        if w > 0 and policy is not None:
            mine = [r for r in records if r["model_week"] == champion.trained_week]
            verdict = decide(
                policy,
                w,
                {c: [r[c] for r in mine] for c in RECORD_COLUMNS},
                trained_week=champion.trained_week,
                baseline_cost=champion.baseline_cost,
                baseline_estimate=champion.baseline_estimate,
                label_delay_weeks=stream.delay,
                last_retrain=last_retrain,
            )
            reason = verdict.reason
            if verdict.retrain:
                retrained, last_retrain = True, w
                challenger = stream.model(w)
                y = np.concatenate([stream.y[v] for v in challenger.holdout])
                p_new = np.concatenate(
                    [stream.proba(challenger, v) for v in challenger.holdout]
                )
                p_old = np.concatenate(
                    [stream.proba(champion, v) for v in challenger.holdout]
                )
                promoted, *_ = fast_gate(y, p_new, p_old)
                if promoted:
                    champion = challenger
        y, p = stream.y[w], stream.proba(champion, w)
        records.append(
            {
                "week": w,
                "rows": len(y),
                "model_week": champion.trained_week,
                "drift_share": stream.drift_share(champion, w) if watch else np.nan,
                "estimated_cost": estimated_cost(p, champion.threshold),
                "realised_cost": modeling.expected_cost(y, p, champion.threshold),
                "mean_proba": float(p.mean()),
                "default_rate": float(y.mean()),
                "retrained": retrained,
                "promoted": promoted,
                "reason": reason,
            }
        )
    return pd.DataFrame(records)


def study(
    policies: Mapping[str, TriggerPolicy | None],
    scenarios: Sequence[str],
    seeds: Sequence[int],
    *,
    retrain_price: float = 100.0,
    timelines: dict | None = None,
    **weeks,
) -> pd.DataFrame:
    """Every policy on every scenario and seed, on the same weeks (paired).

    One row per (seed, scenario, policy): retrains, promotions, the decision
    cost over the served weeks (sum of the weekly cost per application times
    the week's applications, in lost margins), the price of the retrains and
    their sum, ``total_cost``. Pass a dict as ``timelines`` to keep each weekly
    table under ``(seed, scenario, policy)``. ``weeks`` go to
    :func:`production_weeks` (and ``label_delay_weeks``, ``train_weeks`` to
    :class:`Stream`).
    """
    stream_options = {
        k: weeks.pop(k)
        for k in ("label_delay_weeks", "train_weeks", "valid_weeks", "reference_rows")
        if k in weeks
    }
    delay = stream_options.get("label_delay_weeks", 17)
    train = stream_options.get("train_weeks", 12)
    weeks.setdefault("history_weeks", delay + train)
    rows = []
    for seed in seeds:
        shared: dict = {}
        for scenario in scenarios:
            stream = Stream(
                production_weeks(scenario, seed=seed, **weeks),
                shared=shared,
                **stream_options,
            )
            for label, policy in policies.items():
                timeline = simulate(stream, policy)
                if timelines is not None:
                    timelines[seed, scenario, label] = timeline
                decision = float((timeline["realised_cost"] * timeline["rows"]).sum())
                retrains = int(timeline["retrained"].sum())
                rows.append(
                    {
                        "seed": seed,
                        "scenario": scenario,
                        "policy": label,
                        "retrains": retrains,
                        "promotions": int(timeline["promoted"].sum()),
                        "decision_cost": decision,
                        "retrain_cost": retrain_price * retrains,
                        "total_cost": decision + retrain_price * retrains,
                    }
                )
    return pd.DataFrame(rows)
