"""Checks for chapter 8's exercises (registry workflows: gates and model copies)."""

from __future__ import annotations

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from mlops_course import gates
from mlops_course.exercises import Wrong, exercise, expect, expect_type

RETRAIN_C = 0.05  # the exercise's stronger regularisation
BARS = {"non-inferiority": -gates.NON_INFERIORITY_MARGIN, "gain": 0.0}


def _improvement(result: gates.GateResult) -> gates.Check:
    return next(c for c in result.checks if c.name == "improvement")


@exercise("ex-08-1")
def retrain_gate(
    retrain, verdicts, *, X_hold, y_hold, champion_proba, n_resamples, seed
) -> str:
    """The C=0.05 retrain, gated against version 1 with both bars."""
    expect(
        hasattr(retrain, "predict_proba"),
        f"expected the fitted retrain pipeline, got {type(retrain).__name__}",
    )
    expect_type(verdicts, dict, "a dict of GateResults by 'non-inferiority', 'gain'")
    expect(
        set(verdicts) == set(BARS),
        f"verdicts has {sorted(verdicts)}: give one verdict per bar, {sorted(BARS)}",
    )
    for name, result in verdicts.items():
        expect_type(result, gates.GateResult, f"a GateResult for {name!r}")
    C = retrain.get_params().get("model__C", retrain.get_params().get("C"))
    expect(
        C == RETRAIN_C,
        f"the retrain has C={C}: the exercise regularises more strongly, "
        f"C={RETRAIN_C} (a smaller C is a larger penalty)",
    )
    p_retrain = retrain.predict_proba(X_hold)[:, 1]
    for name, bar in BARS.items():
        got = _improvement(verdicts[name])
        expect(
            abs(got.threshold - bar) < 1e-12,
            f"your {name!r} verdict compared the interval with {got.threshold:+g}; "
            f"{name} means min_improvement={bar:g}",
        )
        want = gates.evaluate_gate(
            y_hold,
            p_retrain,
            champion_proba,
            min_improvement=bar,
            n_resamples=n_resamples,
            seed=seed,
        )
        low = _improvement(want).low
        expect(
            verdicts[name].passed == want.passed,
            f"your {name!r} verdict says {'PASS' if verdicts[name].passed else 'FAIL'}"
            f", but the retrain against version 1 on the holdout has an interval "
            f"whose lower end ({low:+.4f}) is {'above' if want.passed else 'not above'}"
            f" the bar {bar:+g}: gate the retrain's probabilities against version "
            "1's, on the same holdout rows",
        )
    return (
        "both verdicts are the gate's: each compares the LOWER end of the "
        "interval with its bar (-0.01 for non-inferiority, 0 for a proven gain)"
    )


@exercise("ex-08-2")
def production_copy(prod, *, client, model_name) -> str:
    """The champion copied into ``<model_name>-prod``, aliased ``live``."""
    expect_type(
        prod,
        ModelVersion,
        "the copy's ModelVersion (client.get_model_version_by_alias(..., 'live'))",
    )
    prod_name = f"{model_name}-prod"
    expect(
        prod.name == prod_name,
        f"this is a version of {prod.name!r}: copy the champion into its own "
        f"registered model, {prod_name!r}",
    )
    try:
        live = client.get_model_version_by_alias(prod_name, "live")
    except MlflowException:
        raise Wrong(f"{prod_name!r} has no 'live' alias: set it on the copy") from None
    expect(
        live.version == prod.version,
        f"'live' names version {live.version} of {prod_name!r}, not your copy "
        f"(version {prod.version})",
    )
    champion = client.get_model_version_by_alias(model_name, "champion")
    want = f"models:/{model_name}/{champion.version}"
    expect(
        prod.source == want,
        f"the copy's source is {prod.source!r}, not the champion ({want}): "
        f"copy models:/{model_name}@champion, which MLflow resolves to the version",
    )
    return (
        f"{prod_name}@live is a copy of the champion, and its source names the "
        "exact version the alias pointed to, not the alias"
    )
