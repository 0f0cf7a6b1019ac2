"""Checks for chapter 12's exercises (test size, sticky salts, a Seldon manifest)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import statsmodels.stats.api as sms
import yaml

from mlops_course import manifests
from mlops_course.exercises import exercise, expect, expect_type
from mlops_course.serving import assignment

DROP = 0.01  # the exercise's detectable drop in the default rate
POWER = 0.9  # the exercise's power
FIRST_SALT = "ab-2026-credit"  # the chapter's experiment


def loans_needed(baseline_rate, alpha, power=POWER, drop=DROP) -> int:
    """Approved loans per arm to detect ``drop`` in the default rate."""
    h = sms.proportion_effectsize(baseline_rate, baseline_rate - drop)
    return math.ceil(
        sms.NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=power)
    )


@exercise("ex-12-1")
def sample_size(need, days_needed, *, baseline_rate, alpha, approval, per_day) -> str:
    """Approved loans per arm and days of enrolment for a 1-point drop at 90% power."""
    for answer in (need, days_needed):
        expect_type(answer, numbers.Integral, "whole numbers (loans per arm, days)")
    want = loans_needed(baseline_rate, alpha)
    expect(
        need != loans_needed(baseline_rate, alpha, power=0.8),
        f"{need} approved loans per arm is the sample for 80% power: the risk team "
        "asks for 90%, which needs more",
    )
    expect(
        need == want,
        f"{need} approved loans per arm: detecting a drop of 1 point from "
        f"{baseline_rate:.3f} with 90% power at alpha {alpha:g} needs {want} "
        "(the effect size of the two proportions, not their difference)",
    )
    days = math.ceil(2 * need / approval / per_day)
    expect(
        days_needed != math.ceil(need / approval / per_day),
        f"{days_needed} days fill one arm only: both arms enrol from the same "
        "traffic, so count 2 x the loans per arm",
    )
    expect(
        days_needed != math.ceil(2 * need / per_day),
        f"{days_needed} days count every application as a loan: only approved "
        f"applications become loans (divide by the approval rate, {approval:.2f})",
    )
    expect(
        days_needed == days,
        f"{days_needed} days: 2 arms x {need} loans, at {approval:.2f} approved "
        f"of {per_day:.0f} applications a day, take {days} days",
    )
    return (
        "a smaller effect and more power grow the sample; both arms, and only "
        "approved loans, fill it"
    )


def stay_share(ids, salt) -> float:
    first = [c for c in ids if assignment.assign(c, FIRST_SALT, 0.5) == "challenger"]
    again = [c for c in first if assignment.assign(c, salt, 0.5) == "challenger"]
    return len(again) / len(first)


@exercise("ex-12-2")
def salt_overlap(stay, *, ids) -> str:
    """Share of the first test's challenger group that is challenger again, by salt."""
    expect_type(stay, Mapping, "a dict: salt -> share that stays in the challenger")
    expect(
        FIRST_SALT in stay and len(stay) >= 2,
        f"give the share for the same salt ({FIRST_SALT!r}) and for a new one",
    )
    expect(
        stay[FIRST_SALT] == 1,
        f"with the same salt {stay[FIRST_SALT]:.1%} stay: the hash of a customer "
        "and a salt never changes, so every one stays in the challenger group",
    )
    for salt, share in stay.items():
        want = stay_share(ids, salt)
        expect(
            abs(share - want) < 1e-9,
            f"with salt {salt!r} {want:.1%} of the first challenger group are "
            f"challengers again, not {share:.1%}: assign each customer of that "
            "group with the new salt at 50%",
        )
    return (
        "the same salt keeps every customer in their group (the second test "
        "inherits the first one's effects); a new salt reshuffles about half"
    )


def _schema_errors(document) -> list[str]:
    return manifests.schema_errors(document, manifests.seldon_schema())


@exercise("ex-12-3")
def promoted_manifest(promoted, two_shadows, *, manifest_text) -> str:
    """The challenger alone, accepted; two shadows, refused by the webhook."""
    for answer in (promoted, two_shadows):
        expect_type(answer, Mapping, "SeldonDeployment documents (dicts)")
    problems = _schema_errors(promoted) + manifests.seldon_webhook_problems(promoted)
    expect(not problems, f"the promoted manifest is refused: {problems}")
    original = yaml.safe_load(manifest_text)["spec"]["predictors"]
    challenger_uri = next(
        p["graph"]["modelUri"] for p in original if p["name"] == "canary"
    )
    predictors = promoted["spec"]["predictors"]
    expect(
        len(predictors) == 1,
        f"the promoted manifest has {len(predictors)} predictors: once the test is "
        "won, the challenger alone takes the traffic (no canary, no shadow)",
    )
    only = predictors[0]
    expect(
        only["graph"].get("modelUri") == challenger_uri,
        f"it serves {only['graph'].get('modelUri')}: the promoted deployment "
        f"serves the challenger, {challenger_uri}",
    )
    expect(
        only.get("traffic", 100) == 100 and not only.get("shadow"),
        "the one predictor must take all the traffic (100), not be a shadow",
    )
    expect(
        sum(bool(p.get("shadow")) for p in two_shadows["spec"]["predictors"]) == 2,
        "the second manifest must hold two shadow predictors",
    )
    errors = _schema_errors(two_shadows)
    expect(
        not errors,
        f"the two-shadow manifest already fails the schema ({errors[:2]}): make "
        "each predictor valid on its own, to see what only the webhook refuses",
    )
    expect(
        "Multiple shadows are not allowed"
        in manifests.seldon_webhook_problems(two_shadows),
        "the webhook accepts your two-shadow manifest: give it two predictors "
        "with shadow: true",
    )
    return (
        "the challenger alone passes schema and webhook; two shadows pass the "
        "schema, and only the webhook, which sees all predictors, refuses them"
    )
