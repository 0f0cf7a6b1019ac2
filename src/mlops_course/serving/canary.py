"""A canary controller: the challenger's share stepped up, or rolled back, on evidence.

A :class:`Canary` raises the challenger's share step by step (5% -> 25% -> 50%
-> 100%). Each step is judged once, when the canary has answered enough calls:
its error rate and its share of slow calls against the primary's over the same
step, with one-sided exact tests; a canary that fails outright is stopped early.
Its clock is injectable, so tests drive it with a fake one. Chapter 12 uses it;
``serving.rollout_app`` reports the service's calls to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_course.serving.assignment import CHALLENGER, PRIMARY


class CanaryPlan(BaseModel):
    """How a canary steps up, and the evidence that rolls it back.

    Each step but the last is judged once, on its own traffic: the canary's calls
    against the primary's over the same period (the step is the window). A step
    is judged when it has lasted ``hold_seconds`` and the canary has answered
    ``min_requests`` calls; size that from the error budget (chapter 12 does it
    with statsmodels' power solver). The judgement is two one-sided Fisher exact
    tests, canary worse than primary: on the share of failed calls, and on the
    share of calls slower than ``latency_factor`` times the primary's p95 in the
    step. Each test runs at ``alpha`` divided by the number of tests in the whole
    plan (Bonferroni), so a healthy canary is rolled back in at most ``alpha`` of
    rollouts. Between judgements, each new canary failure triggers an early look
    at the stricter ``early_alpha`` (a Haybittle-Peto boundary), so a canary that
    fails outright is stopped after a handful of calls. Reaching the last step
    (1.0, where no primary traffic is left to compare with) is the promotion.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: tuple[float, ...] = (0.05, 0.25, 0.5, 1.0)
    min_requests: int = Field(200, ge=1, description="Canary calls per judged step.")
    hold_seconds: float = Field(60.0, ge=0, description="Shortest time per step.")
    alpha: float = Field(0.05, gt=0, lt=1, description="False-rollback rate, in all.")
    early_alpha: float = Field(0.001, gt=0, lt=1)
    latency_factor: float = Field(1.25, ge=1)

    @model_validator(mode="after")
    def _increasing(self) -> CanaryPlan:
        steps = self.steps
        if len(steps) < 2 or any(not 0 < s <= 1 for s in steps):
            raise ValueError("steps must be two or more shares in (0, 1]")
        if list(steps) != sorted(set(steps)) or steps[-1] != 1.0:
            raise ValueError("steps must increase strictly and end at 1.0")
        return self

    @property
    def test_alpha(self) -> float:
        """The level of each judgement's test: ``alpha`` over all the plan's tests."""
        return self.alpha / (2 * (len(self.steps) - 1))


@dataclass(frozen=True)
class CanaryDecision:
    """What one :meth:`Canary.evaluate` call decided, and why."""

    action: Literal["hold", "step_up", "promoted", "rolled_back"]
    share: float
    reason: str


class VariantTally:
    """One variant's calls in the current step: count, failures, latencies.

    Latencies of successful calls are kept up to :attr:`cap`; past it, a uniform
    sample of that size (reservoir sampling), so a long step at high traffic
    holds bounded memory and the percentiles stay unbiased.
    """

    cap = 50_000

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.latency_ms: list[float] = []
        self._ok_seen = 0
        self._rng = np.random.default_rng(0)

    def add(self, ok: np.ndarray, latency_ms: np.ndarray) -> None:
        self.calls += len(ok)
        self.errors += int((~ok).sum())
        values = latency_ms[ok].tolist()
        room = max(self.cap - len(self.latency_ms), 0)
        self.latency_ms.extend(values[:room])
        self._ok_seen += min(room, len(values))
        for ms in values[room:]:  # past the cap: reservoir sampling
            self._ok_seen += 1
            if (slot := int(self._rng.integers(self._ok_seen))) < self.cap:
                self.latency_ms[slot] = ms


def _worse(k_canary: int, n_canary: int, k_primary: int, n_primary: int) -> float:
    """One-sided Fisher exact p-value: the canary's share is the larger one."""
    from scipy.stats import fisher_exact

    table = [[k_canary, n_canary - k_canary], [k_primary, n_primary - k_primary]]
    return float(fisher_exact(table, alternative="greater").pvalue)


@dataclass
class Canary:
    """A canary controller: calls of both variants in, step up / promote / roll back.

    The service reports every call to :meth:`observe` (variant, success, latency)
    and asks :meth:`evaluate` what to do; the clock is injectable, so tests and
    simulations drive it with a fake one.
    """

    plan: CanaryPlan = field(default_factory=CanaryPlan)
    clock: Callable[[], float] = time.monotonic
    state: Literal["running", "promoted", "rolled_back"] = "running"
    step: int = 0
    history: list[CanaryDecision] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._new_step()

    def _new_step(self) -> None:
        self._arms = {PRIMARY: VariantTally(), CHALLENGER: VariantTally()}
        self._step_started = self.clock()
        self._errors_looked_at = 0

    @property
    def share(self) -> float:
        """The challenger's current share of traffic (0 once rolled back)."""
        if self.state == "rolled_back":
            return 0.0
        if self.state == "promoted":
            return 1.0
        return self.plan.steps[self.step]

    def observe(
        self, variant: str, ok: bool | Sequence[bool], latency_ms: float | Sequence
    ) -> None:
        """Record calls of one variant (one, or arrays of the same length)."""
        if variant not in (PRIMARY, CHALLENGER):
            raise ValueError(f"variant must be {PRIMARY!r} or {CHALLENGER!r}")
        oks = np.atleast_1d(np.asarray(ok, dtype=bool))
        ms = np.atleast_1d(np.asarray(latency_ms, dtype=float))
        if oks.shape != ms.shape:
            raise ValueError("ok and latency_ms must have the same length")
        with self._lock:
            if self.state == "running":
                self._arms[variant].add(oks, ms)

    def window_stats(self) -> dict[str, float]:
        """Calls, error rate and p95 (ms) of both variants in the current step."""
        with self._lock:
            out: dict[str, float] = {}
            for variant, arm in self._arms.items():
                out[f"{variant}_calls"] = arm.calls
                out[f"{variant}_error_rate"] = (
                    arm.errors / arm.calls if arm.calls else 0
                )
                p95 = np.percentile(arm.latency_ms, 95) if arm.latency_ms else 0.0
                out[f"{variant}_p95_ms"] = float(p95)
            return out

    def evaluate(self) -> CanaryDecision:
        """Roll back on evidence of harm; step up after a judged, healthy step."""
        with self._lock:
            decision = self._decide()
            if decision.action != "hold":
                self.history.append(decision)
            return decision

    def _roll_back(self, why: str) -> CanaryDecision:
        was = self.share
        self.state = "rolled_back"
        return CanaryDecision("rolled_back", 0.0, f"rolled back from {was:.0%}: {why}")

    def _decide(self) -> CanaryDecision:
        if self.state != "running":
            return CanaryDecision("hold", self.share, f"canary {self.state}")
        plan, canary, primary = self.plan, self._arms[CHALLENGER], self._arms[PRIMARY]
        errors = (canary.errors, canary.calls, primary.errors, primary.calls)
        if canary.errors > self._errors_looked_at:  # an early look, on new failures
            self._errors_looked_at = canary.errors
            if (p := _worse(*errors)) < plan.early_alpha:
                return self._roll_back(self._errors_text(p, plan.early_alpha))
        if canary.calls < plan.min_requests:
            seen = f"{canary.calls}/{plan.min_requests}"
            return CanaryDecision("hold", self.share, f"{seen} canary calls in step")
        if self.clock() - self._step_started < plan.hold_seconds:
            return CanaryDecision("hold", self.share, "enough calls; holding the step")
        breach = []
        if (p := _worse(*errors)) < plan.test_alpha:
            breach.append(self._errors_text(p, plan.test_alpha))
        slow_ms = plan.latency_factor * (
            np.percentile(primary.latency_ms, 95) if primary.latency_ms else 0.0
        )
        slow_c = int(np.sum(np.asarray(canary.latency_ms) > slow_ms))
        slow_p = int(np.sum(np.asarray(primary.latency_ms) > slow_ms))
        n_c, n_p = len(canary.latency_ms), len(primary.latency_ms)
        if n_c and n_p and (q := _worse(slow_c, n_c, slow_p, n_p)) < plan.test_alpha:
            breach.append(
                f"calls over {slow_ms:.1f} ms {slow_c / n_c:.1%} vs "
                f"{slow_p / n_p:.1%} (p = {q:.2g} < {plan.test_alpha:.2g})"
            )
        if breach:
            return self._roll_back("; ".join(breach))
        healthy = (
            f"healthy at {self.share:.0%} ({canary.calls} canary calls: "
            f"{canary.errors / canary.calls:.1%} errors vs "
            f"{primary.errors / max(primary.calls, 1):.1%} on the primary)"
        )
        self.step += 1
        self._new_step()  # the next step is judged on its own traffic
        if self.step == len(plan.steps) - 1:
            self.state = "promoted"
            return CanaryDecision("promoted", 1.0, healthy + ": promoted")
        return CanaryDecision("step_up", self.share, healthy + f" -> {self.share:.0%}")

    def _errors_text(self, p: float, level: float) -> str:
        canary, primary = self._arms[CHALLENGER], self._arms[PRIMARY]
        rate_p = primary.errors / primary.calls if primary.calls else 0.0
        return (
            f"errors {canary.errors}/{canary.calls} = "
            f"{canary.errors / canary.calls:.1%} vs {rate_p:.1%} on the primary "
            f"(p = {p:.2g} < {level:.2g})"
        )


__all__ = ["Canary", "CanaryDecision", "CanaryPlan", "VariantTally"]
