"""Chapter 12's exercise checks, on a right answer and on wrong ones."""

import math

import yaml

from mlops_course.exercises import ch12

PLAN = {"baseline_rate": 0.08, "alpha": 0.05, "approval": 0.7, "per_day": 250.0}


def right_size():
    need = ch12.loans_needed(PLAN["baseline_rate"], PLAN["alpha"])
    return need, math.ceil(2 * need / PLAN["approval"] / PLAN["per_day"])


def test_sample_size_accepts_loans_and_days_of_both_arms():
    fb = ch12.sample_size(*right_size(), **PLAN)
    assert fb.ok is True, fb.message


def test_sample_size_refuses_the_80_percent_plan():
    need = ch12.loans_needed(PLAN["baseline_rate"], PLAN["alpha"], power=0.8)
    fb = ch12.sample_size(need, 30, **PLAN)
    assert fb.ok is False
    assert "is the sample for 80% power: the risk team asks for 90%" in fb.message


def test_sample_size_refuses_days_of_one_arm_or_of_all_applications():
    need, days = right_size()
    one_arm = math.ceil(need / PLAN["approval"] / PLAN["per_day"])
    fb = ch12.sample_size(need, one_arm, **PLAN)
    assert "fill one arm only" in fb.message
    every = math.ceil(2 * need / PLAN["per_day"])
    fb = ch12.sample_size(need, every, **PLAN)
    assert "only approved applications become loans" in fb.message
    assert ch12.sample_size(need + 50, days, **PLAN).ok is False


IDS = [f"C{i:07d}" for i in range(3_000)]


def test_salt_overlap_accepts_the_measured_shares():
    stay = {salt: ch12.stay_share(IDS, salt) for salt in ["ab-2026-credit", "v2"]}
    assert stay["ab-2026-credit"] == 1.0 and 0.4 < stay["v2"] < 0.6
    fb = ch12.salt_overlap(stay, ids=IDS)
    assert fb.ok is True, fb.message


def test_salt_overlap_refuses_a_coin_flip_story():
    fb = ch12.salt_overlap({"ab-2026-credit": 0.5, "v2": 0.5}, ids=IDS)
    assert fb.ok is False
    assert "the hash of a customer and a salt never changes" in fb.message
    fb = ch12.salt_overlap({"ab-2026-credit": 1.0, "v2": 1.0}, ids=IDS)
    assert "assign each customer of that group with the new salt" in fb.message


MANIFEST = """
spec:
  predictors:
    - name: champion
      traffic: 95
      graph: {name: classifier, type: MODEL, implementation: MLFLOW_SERVER,
              modelUri: s3://m/champion}
    - name: canary
      traffic: 5
      graph: {name: classifier, type: MODEL, implementation: MLFLOW_SERVER,
              modelUri: s3://m/challenger}
    - name: shadow
      shadow: true
      graph: {name: classifier, type: MODEL, implementation: MLFLOW_SERVER,
              modelUri: s3://m/challenger}
"""
HEAD = {
    "apiVersion": "machinelearning.seldon.io/v1",
    "kind": "SeldonDeployment",
    "metadata": {"name": "credit-default"},
}


def documents():
    doc = HEAD | yaml.safe_load(MANIFEST)
    promoted = HEAD | yaml.safe_load(MANIFEST)
    canary = promoted["spec"]["predictors"][1]
    promoted["spec"]["predictors"] = [{**canary, "name": "challenger", "traffic": 100}]
    two = HEAD | yaml.safe_load(MANIFEST)
    two["spec"]["predictors"][1] = {**two["spec"]["predictors"][2], "name": "s2"}
    two["spec"]["predictors"][0]["traffic"] = 100
    return doc, promoted, two


def test_promoted_manifest_accepts_the_challenger_alone():
    _, promoted, two = documents()
    fb = ch12.promoted_manifest(promoted, two, manifest_text=MANIFEST)
    assert fb.ok is True, fb.message


def test_promoted_manifest_refuses_the_champion_or_the_canary_left_in():
    doc, promoted, two = documents()
    fb = ch12.promoted_manifest(doc, two, manifest_text=MANIFEST)
    assert fb.ok is False
    assert "the challenger alone takes the traffic" in fb.message
    promoted["spec"]["predictors"][0]["graph"]["modelUri"] = "s3://m/champion"
    fb = ch12.promoted_manifest(promoted, two, manifest_text=MANIFEST)
    assert "the promoted deployment serves the challenger" in fb.message


def test_promoted_manifest_refuses_one_shadow_as_the_two_shadow_case():
    _, promoted, _ = documents()
    fb = ch12.promoted_manifest(promoted, documents()[0], manifest_text=MANIFEST)
    assert fb.ok is False
    assert fb.message == "the second manifest must hold two shadow predictors"
