"""The canary controller: step up, promote, roll back on evidence (chapter 12)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from mlops_course.serving import canary as ca


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(canary, clock, n_canary, n_primary, *, errors=(0, 0), ms=(5.0, 5.0)):
    """Report calls of both arms over one simulated second per 10 calls.

    ``errors`` fails every k-th call of (canary, primary) (0: none); ``ms`` is a
    latency per arm, spread by a fixed pattern so percentiles are meaningful.
    """
    spread = np.tile(np.linspace(0.8, 1.2, 10), n_canary + n_primary)
    for variant, n, every, base in [
        ("challenger", n_canary, errors[0], ms[0]),
        ("primary", n_primary, errors[1], ms[1]),
    ]:
        ok = np.ones(n, dtype=bool)
        if every:
            ok[every - 1 :: every] = False
        canary.observe(variant, ok, base * spread[:n])
    clock.now += (n_canary + n_primary) / 10


def test_a_healthy_canary_is_judged_once_per_step_and_promoted():
    clock = FakeClock()
    canary = ca.Canary(ca.CanaryPlan(min_requests=50, hold_seconds=10), clock=clock)
    shares = [canary.share]
    for _ in range(3):
        n = 50  # the canary's calls; the primary gets the rest of the traffic
        feed(canary, clock, n, round(n * (1 - canary.share) / canary.share))
        decision = canary.evaluate()
        shares.append(canary.share)
    assert shares == [0.05, 0.25, 0.5, 1.0]
    assert decision.action == "promoted" and canary.state == "promoted"
    assert [d.action for d in canary.history] == ["step_up"] * 2 + ["promoted"]
    assert "50 canary calls" in canary.history[0].reason


def test_canary_holds_until_it_has_seen_enough_and_the_hold_time():
    clock = FakeClock()
    canary = ca.Canary(ca.CanaryPlan(min_requests=50, hold_seconds=600), clock=clock)
    feed(canary, clock, 49, 900)
    decision = canary.evaluate()
    assert decision.action == "hold" and "49/50" in decision.reason
    feed(canary, clock, 1, 19)
    assert canary.evaluate().reason == "enough calls; holding the step"
    clock.now += 600
    assert canary.evaluate().action == "step_up" and canary.share == 0.25


def test_a_canary_that_fails_outright_is_stopped_early():
    clock = FakeClock()
    canary = ca.Canary(ca.CanaryPlan(min_requests=200, hold_seconds=0), clock=clock)
    feed(canary, clock, 0, 100)
    for _ in range(10):  # a call at a time: each failure is an early look
        canary.observe("challenger", False, 5.0)
        if canary.evaluate().action == "rolled_back":
            break
    assert canary.state == "rolled_back" and canary.share == 0.0
    assert "errors 2/2 = 100.0% vs 0.0% on the primary" in canary.history[0].reason
    feed(canary, clock, 500, 500)  # healthy again: a rolled-back canary stays down
    assert canary.evaluate().action == "hold" and canary.share == 0.0


def test_canary_rolls_back_on_more_errors_than_the_primary():
    clock = FakeClock()
    plan = ca.CanaryPlan(min_requests=200, hold_seconds=0, early_alpha=1e-12)
    canary = ca.Canary(plan, clock=clock)
    feed(canary, clock, 200, 3_800, errors=(10, 100))  # 10% against 1%
    decision = canary.evaluate()
    assert decision.action == "rolled_back" and "from 5%" in decision.reason
    assert "errors 20/200 = 10.0% vs 1.0% on the primary" in decision.reason


def test_errors_the_primary_makes_too_do_not_roll_the_canary_back():
    # 4% errors in both arms: an absolute limit of 2% would roll back; evidence does not
    clock = FakeClock()
    canary = ca.Canary(ca.CanaryPlan(min_requests=200, hold_seconds=0), clock=clock)
    feed(canary, clock, 200, 3_800, errors=(25, 25))
    assert canary.evaluate().action == "step_up"


def test_canary_rolls_back_when_slower_than_the_primary_in_the_same_step():
    clock = FakeClock()
    canary = ca.Canary(ca.CanaryPlan(min_requests=100, hold_seconds=0), clock=clock)
    feed(canary, clock, 100, 1_900, ms=(5.0, 5.0))
    assert canary.evaluate().action == "step_up" and canary.share == 0.25
    feed(canary, clock, 100, 300, ms=(10.0, 5.0))  # twice the primary's latency
    decision = canary.evaluate()
    assert decision.action == "rolled_back" and "from 25%" in decision.reason
    assert "calls over 7.5 ms 100.0% vs 0.0%" in decision.reason


def test_a_slow_primary_is_the_baseline_not_a_fixed_limit():
    clock = FakeClock()
    canary = ca.Canary(ca.CanaryPlan(min_requests=100, hold_seconds=0), clock=clock)
    feed(canary, clock, 100, 1_900, ms=(400.0, 400.0))  # slow, but both alike
    assert canary.evaluate().action == "step_up"
    stats = canary.window_stats()  # the new step starts empty
    assert stats["challenger_calls"] == 0 and stats["primary_calls"] == 0


def test_canary_checks_what_it_is_told():
    canary = ca.Canary(ca.CanaryPlan())
    with pytest.raises(ValueError, match="variant must be"):
        canary.observe("canary", True, 5.0)
    with pytest.raises(ValueError, match="same length"):
        canary.observe("primary", [True, True], [5.0])
    assert ca.CanaryPlan().test_alpha == pytest.approx(0.05 / 6)


@pytest.mark.parametrize(
    "steps",
    [(), (1.0,), (0.5, 0.25, 1.0), (0.05, 0.5), (0.0, 1.0), (0.5, 0.5, 1.0)],
)
def test_a_canary_plan_must_climb_to_everyone(steps):
    with pytest.raises(ValidationError, match="steps"):
        ca.CanaryPlan(steps=steps)


def test_a_long_step_keeps_a_bounded_uniform_sample_of_latencies(monkeypatch):
    monkeypatch.setattr(ca.VariantTally, "cap", 1_000)
    canary = ca.Canary(ca.CanaryPlan(min_requests=10_000))
    canary.observe("primary", np.ones(20_000, bool), np.arange(20_000, dtype=float))
    stats = canary.window_stats()
    assert stats["primary_calls"] == 20_000
    kept = canary._arms["primary"].latency_ms
    assert len(kept) == 1_000  # bounded...
    assert 8_000 < np.median(kept) < 12_000  # ...and drawn from the whole step
