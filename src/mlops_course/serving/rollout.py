"""Safe rollouts of a challenger model: sticky A/B split, shadow mirror, canary.

Chapter 12 uses it. :func:`create_rollout_app` is a second app factory next to
``serving.create_app`` (which it leaves untouched): it loads a *primary* and a
*challenger* model with the service's own loader and serves the service's own
contract, and adds:

- **sticky assignment**: ``sha256(salt:customer_id)`` picks one of 10,000
  buckets; buckets below ``challenger_share * 10,000`` go to the challenger, so a
  customer keeps the same variant across requests and restarts, and raising the
  share only moves customers from primary to challenger, never back;
- **shadow mode**: after the primary has answered, the request is put on a
  bounded queue (never waited on); a background thread scores it with the
  challenger under a timeout and logs both predictions as JSON lines. A full
  queue drops the copy; a challenger that raises or hangs is logged, and never
  changes an answer. It still runs in the service's process: a CPU-bound
  challenger competes with the primary for the CPU and the GIL, and a call past
  its timeout keeps running. A production shadow is a separate deployment;
- **canary**: a :class:`Canary` raises the challenger's share step by step
  (5% -> 25% -> 50% -> 100%). Each step is judged once, when the canary has
  answered enough calls: its error rate and its share of slow calls against the
  primary's over the same step, with one-sided exact tests; a canary that fails
  outright is stopped early. Its clock is injectable, so tests drive it with a
  fake one;
- a challenger that fails while serving a customer (error or timeout) is
  replaced by the primary for that request: the customer gets an answer, and
  the response says both the variant ``assigned`` and the one it was
  ``served_by``.

:func:`seldon_schema` and :func:`seldon_webhook_problems` check a Seldon Core v1
``SeldonDeployment`` manifest, and ``seldon_schema("v2")`` Seldon Core 2 ``Model``
and ``Experiment`` resources (schemas vendored in ``mlops_course/schemas/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_course.serving.app import apply_contract, content_type
from mlops_course.serving.loading import LoadedModel, ModelLoadError, load_model
from mlops_course.serving.schemas import (
    ERRORS,
    JSON,
    MAX_BATCH_ROWS,
    Application,
    Metadata,
    Prediction,
    Status,
    columns_of,
)
from mlops_course.serving.settings import Settings

logger = logging.getLogger("mlops_course.serving.rollout")

#: Customers are hashed into this many buckets (a share is set to 0.01%).
BUCKETS = 10_000
PRIMARY, CHALLENGER = "primary", "challenger"
Variant = Literal["primary", "challenger"]
#: The environment variable naming the rollout app's JSON config file.
CONFIG_ENV = "MLOPS_ROLLOUT_CONFIG"
#: A customer id: letters, digits, ``_-.:``, 1 to 64 characters.
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


# ------------------------------------------------------------------ sticky assignment
def bucket(customer_id: str, salt: str) -> int:
    """The customer's bucket in ``[0, BUCKETS)``: sha256 of ``salt:customer_id``."""
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def assign(customer_id: str, salt: str, challenger_share: float) -> Variant:
    """The variant that serves this customer at this challenger share (sticky)."""
    if not 0 <= challenger_share <= 1:
        raise ValueError(f"challenger_share must be in [0, 1], got {challenger_share}")
    cut = round(challenger_share * BUCKETS)
    return CHALLENGER if bucket(customer_id, salt) < cut else PRIMARY


# ------------------------------------------------------------------------- the canary
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


# ---------------------------------------------------------------------- shadow mirror
@dataclass
class _Mirrored:
    request_id: int
    customer_ids: list[str]
    columns: dict[str, list]
    primary: list[float]


class ShadowMirror:
    """Score copies of requests with the challenger, off the request path.

    :meth:`submit` never blocks: a full queue drops the copy (counted). One
    dispatcher thread runs each copy in its own daemon thread and waits at most
    ``timeout`` seconds; a call that overruns is logged as a timeout and left to
    finish on its own (at most ``max_stuck`` such calls at once; past that, copies
    are skipped until one returns). Each outcome becomes one JSON line in
    ``log_path`` (when given) and one entry of :attr:`records` (the last 10,000).
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        timeout: float = 0.5,
        max_queue: int = 1_000,
        max_stuck: int = 4,
        log_path: str | os.PathLike | None = None,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.max_stuck = max_stuck
        self.log_path = Path(log_path) if log_path is not None else None
        self.records: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.counts: Counter[str] = Counter()
        self._queue: queue.Queue[_Mirrored | None] = queue.Queue(maxsize=max_queue)
        self._stuck: list[threading.Thread] = []
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(
            target=self._dispatch, name="shadow-dispatcher", daemon=True
        )
        self._thread.start()

    def submit(
        self,
        request_id: int,
        customer_ids: list[str],
        columns: dict[str, list],
        primary: list[float],
    ) -> bool:
        """Queue a copy for the challenger; False (and counted) if the queue is full."""
        with self._idle:
            try:
                self._queue.put_nowait(
                    _Mirrored(request_id, customer_ids, columns, primary)
                )
            except queue.Full:
                self.counts["dropped"] += 1
                return False
            self._pending += 1
        self.counts["submitted"] += 1
        return True

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued copy is done (for tests and read-outs)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stop the dispatcher (queued copies still waiting are dropped)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=self.timeout + 1)

    def _dispatch(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._mirror(item)
            except Exception:  # never let one copy stop the mirror
                logger.exception("shadow copy %s failed", item.request_id)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _mirror(self, item: _Mirrored) -> None:
        self._stuck = [t for t in self._stuck if t.is_alive()]
        if len(self._stuck) >= self.max_stuck:
            self._record(item, "skipped", None, None, "challenger stuck")
            return
        result: dict[str, Any] = {}

        def call() -> None:
            started = time.perf_counter()
            try:
                result["proba"] = self.model.engine.predict_proba(item.columns)
            except Exception as exc:
                result["error"] = f"{type(exc).__name__}: {exc}"[:200]
            result["ms"] = (time.perf_counter() - started) * 1000

        worker = threading.Thread(target=call, name="shadow-call", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            self._stuck.append(worker)
            message = f"no answer within {self.timeout:g} s"
            self._record(item, "timeout", None, None, message)
        elif "error" in result:
            self._record(item, "error", None, result["ms"], result["error"])
        else:
            self._record(item, "ok", result["proba"], result["ms"], None)

    def _record(
        self,
        item: _Mirrored,
        status: str,
        proba: np.ndarray | None,
        ms: float | None,
        error: str | None,
    ) -> None:
        self.counts[status] += 1
        lines = []
        for i, customer in enumerate(item.customer_ids):
            record = {
                "request_id": item.request_id,
                "customer_id": customer,
                "status": status,
                "primary": item.primary[i],
                "challenger": None if proba is None else float(proba[i]),
                "challenger_threshold": self.model.threshold,
                "challenger_version": self.model.version,
                "challenger_ms": ms,
                "error": error,
            }
            self.records.append(record)
            lines.append(json.dumps(record))
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write("\n".join(lines) + "\n")


# ------------------------------------------------------------------------ the policy
class RolloutPolicy(BaseModel):
    """Who answers: a fixed split (A/B), a shadow copy, or a canary plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    salt: str = Field("rollout", min_length=1, description="Experiment's hash salt.")
    challenger_share: float = Field(0.0, ge=0, le=1)
    shadow: bool = False
    canary: CanaryPlan | None = None
    challenger_timeout: float = Field(0.25, gt=0, description="Seconds, when serving.")
    shadow_timeout: float = Field(0.5, gt=0, description="Seconds, shadow copies.")
    shadow_queue: int = Field(1_000, ge=1)
    shadow_log: Path | None = None

    @model_validator(mode="after")
    def _one_share(self) -> RolloutPolicy:
        if self.canary is not None and self.challenger_share:
            raise ValueError("a canary sets the share itself: leave challenger_share 0")
        return self

    @property
    def mode(self) -> str:
        """``canary``, ``ab``, ``shadow``, ``ab+shadow`` or ``primary only``."""
        if self.canary is not None:
            return "canary+shadow" if self.shadow else "canary"
        served = "ab" if self.challenger_share else ""
        return "+".join(filter(None, [served, "shadow" if self.shadow else ""])) or (
            "primary only"
        )


class RolloutConfig(BaseModel):
    """The rollout app's config file: two models and a policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    primary: Settings
    challenger: Settings
    policy: RolloutPolicy = RolloutPolicy()


# ------------------------------------------------------------------ request, response
CustomerId = Annotated[
    str,
    Header(
        alias="X-Customer-Id",
        pattern=CUSTOMER_ID_PATTERN,
        description="Who applies: the key of the sticky assignment.",
    ),
]


class RolloutPrediction(Prediction):
    """The service's answer: the variant assigned, and the one that answered.

    They differ when the assigned challenger failed or overran and the primary
    answered instead. An experiment is analysed by ``assigned`` (intention to
    treat); ``served_by`` says what the customer actually got.
    """

    assigned: Variant
    served_by: Variant


class RolloutBatchRequest(BaseModel):
    """Applications with the customer each comes from (same order, same length)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    applications: list[Application] = Field(min_length=1, max_length=MAX_BATCH_ROWS)
    customer_ids: list[Annotated[str, Field(pattern=CUSTOMER_ID_PATTERN)]]

    @model_validator(mode="after")
    def _same_length(self) -> RolloutBatchRequest:
        if len(self.customer_ids) != len(self.applications):
            raise ValueError(
                f"{len(self.customer_ids)} customer_ids for "
                f"{len(self.applications)} applications"
            )
        return self


class RolloutBatchPrediction(BaseModel):
    """Answers for a batch, row by row: probability, decision, variants, version."""

    probability_of_default: list[Annotated[float, Field(ge=0, le=1)]]
    decision: list[Literal["approve", "reject"]]
    assigned: list[Variant]
    served_by: list[Variant]
    model_version: list[str]
    n_rows: int


class VariantCounts(BaseModel):
    """Rows answered by each variant, and challenger calls the primary replaced."""

    primary: int
    challenger: int
    challenger_failures: int


class RolloutStatus(BaseModel):
    """What ``/rollout`` reports: mode, share, canary state, shadow counters."""

    mode: str
    salt: str
    challenger_share: float
    served: VariantCounts
    canary_state: str | None = None
    canary_window: dict[str, float] | None = None
    canary_history: list[str] = []
    shadow: dict[str, int] = {}


# ------------------------------------------------------------------------- the app
class _Rollout:
    """The rollout's live state, kept on ``app.state.rollout``."""

    def __init__(
        self,
        primary: LoadedModel,
        challenger: LoadedModel,
        policy: RolloutPolicy,
        clock: Callable[[], float],
    ) -> None:
        self.primary = primary
        self.challenger = challenger
        self.policy = policy
        self.canary = Canary(policy.canary, clock=clock) if policy.canary else None
        self.mirror = (
            ShadowMirror(
                challenger,
                timeout=policy.shadow_timeout,
                max_queue=policy.shadow_queue,
                log_path=policy.shadow_log,
            )
            if policy.shadow
            else None
        )
        self.served: Counter[str] = Counter()
        self.request_ids = iter(range(1, 2**62))

    @property
    def share(self) -> float:
        return self.canary.share if self.canary else self.policy.challenger_share

    def model(self, variant: str) -> LoadedModel:
        return self.challenger if variant == CHALLENGER else self.primary

    async def challenger_scores(self, columns: dict[str, list]) -> np.ndarray | None:
        """The challenger's scores, or None if it failed or overran (counted)."""
        started = time.perf_counter()
        timed: list[float] = []

        def call() -> np.ndarray:  # timed in its thread, as the primary is inline
            begun = time.perf_counter()
            try:
                return self.challenger.engine.predict_proba(columns)
            finally:
                timed.append((time.perf_counter() - begun) * 1000)

        try:
            proba = await asyncio.wait_for(
                asyncio.to_thread(call), self.policy.challenger_timeout
            )
            ok = True
        except Exception as exc:  # includes TimeoutError: the primary answers instead
            logger.warning("challenger failed, primary answers: %s", exc)
            proba, ok = None, False
            self.served["challenger_failures"] += 1
        ms = timed[0] if timed else (time.perf_counter() - started) * 1000
        self.judge(CHALLENGER, ok, ms)
        return proba

    def primary_scores(self, columns: dict[str, list]) -> np.ndarray:
        """The primary's scores; a running canary sees the call as its baseline."""
        started = time.perf_counter()
        ok = False
        try:
            proba = self.primary.engine.predict_proba(columns)
            ok = True
            return proba
        finally:
            self.judge(PRIMARY, ok, (time.perf_counter() - started) * 1000)

    def judge(self, variant: str, ok: bool, ms: float) -> None:
        """Report one call to the canary (if any) and let it decide."""
        if self.canary is None or self.canary.state != "running":
            return
        self.canary.observe(variant, ok, ms)
        decision = self.canary.evaluate()
        if decision.action != "hold":
            logger.info("canary %s: %s", decision.action, decision.reason)

    def status(self) -> RolloutStatus:
        canary = self.canary
        return RolloutStatus(
            mode=self.policy.mode,
            salt=self.policy.salt,
            challenger_share=self.share,
            served=VariantCounts(
                primary=self.served[PRIMARY],
                challenger=self.served[CHALLENGER],
                challenger_failures=self.served["challenger_failures"],
            ),
            canary_state=canary.state if canary else None,
            canary_window=canary.window_stats() if canary else None,
            canary_history=[d.reason for d in canary.history] if canary else [],
            shadow=dict(self.mirror.counts) if self.mirror else {},
        )


def _loaded(model: Settings | LoadedModel) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model)


def create_rollout_app(
    primary: Settings | LoadedModel,
    challenger: Settings | LoadedModel,
    policy: RolloutPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The model service with a challenger beside the primary, as ``policy`` says.

    Settings load with the service's loader when the app starts (a
    :class:`LoadedModel` is used as it is). Routes: ``/health``, ``/ready``,
    ``/metadata`` (both models), ``/rollout`` (status), ``POST /predict`` (header
    ``X-Customer-Id``) and ``POST /predict/batch`` (``customer_ids`` in the body).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            app.state.rollout = _Rollout(
                _loaded(primary), _loaded(challenger), policy, clock
            )
            app.state.rollout_error = None
        except ModelLoadError as exc:
            app.state.rollout_error = str(exc)
            logger.error("rollout not ready: %s", exc)
        yield
        if app.state.rollout is not None and app.state.rollout.mirror is not None:
            app.state.rollout.mirror.close()
        app.state.rollout = None

    app = FastAPI(
        title="Credit-default model service: safe rollout",
        version="2.0",
        summary="A primary model and a challenger: A/B split, shadow, canary.",
        lifespan=lifespan,
    )
    apply_contract(app)
    app.state.rollout = None
    app.state.rollout_error = "not started"

    def live(request: Request) -> _Rollout:
        rollout = request.app.state.rollout
        if rollout is None:
            raise HTTPException(
                503, f"models not loaded: {request.app.state.rollout_error}"
            )
        return rollout

    @app.get("/health", response_model=Status, response_model_exclude_none=True)
    async def health() -> Status:
        """The process is up."""
        return Status(status="ok")

    @app.get("/ready", response_model=Status, responses={503: ERRORS[503]})
    async def ready(request: Request) -> Status:
        """200 once both models are loaded."""
        return Status(status="ready", model_version=live(request).primary.version)

    @app.get("/metadata", response_model=dict[str, Metadata])
    async def metadata(request: Request) -> dict[str, Metadata]:
        """Both models: name, version, source, data hash, engine, threshold."""
        rollout = live(request)
        return {v: rollout.model(v).metadata() for v in (PRIMARY, CHALLENGER)}

    @app.get("/rollout", response_model=RolloutStatus, responses={503: ERRORS[503]})
    async def rollout_status(request: Request) -> RolloutStatus:
        """Mode, current challenger share, answers per variant, canary, shadow."""
        return live(request).status()

    @app.post(
        "/predict",
        response_model=RolloutPrediction,
        responses=ERRORS,
        dependencies=[content_type(JSON)],
    )
    async def predict(
        application: Application, customer_id: CustomerId, request: Request
    ) -> RolloutPrediction:
        """Score one application for the variant this customer is assigned to."""
        rollout = live(request)
        columns = columns_of([application])
        assigned = assign(customer_id, rollout.policy.salt, rollout.share)
        served_by, proba = assigned, None
        if assigned == CHALLENGER:
            proba = await rollout.challenger_scores(columns)
            if proba is None:
                served_by = PRIMARY
        if proba is None:
            proba = rollout.primary_scores(columns)
        rollout.served[served_by] += 1
        model = rollout.model(served_by)
        p = float(proba[0])
        if rollout.mirror is not None and assigned == PRIMARY:
            rollout.mirror.submit(
                next(rollout.request_ids), [customer_id], columns, [p]
            )
        return RolloutPrediction(
            probability_of_default=p,
            decision="reject" if p >= model.threshold else "approve",
            threshold=model.threshold,
            model_version=model.version,
            assigned=assigned,
            served_by=served_by,
        )

    @app.post(
        "/predict/batch",
        response_model=RolloutBatchPrediction,
        responses=ERRORS,
        dependencies=[content_type(JSON)],
    )
    async def predict_batch(
        batch: RolloutBatchRequest, request: Request
    ) -> RolloutBatchPrediction:
        """Score a batch, each row by the variant its customer is assigned to."""
        rollout = live(request)
        share, salt = rollout.share, rollout.policy.salt
        assigned = np.array([assign(c, salt, share) for c in batch.customer_ids])
        served_by = assigned.copy()  # a failed challenger call: the primary answers
        proba = np.empty(len(assigned))
        rows = np.flatnonzero(assigned == CHALLENGER)
        if len(rows):
            picked = columns_of([batch.applications[i] for i in rows])
            scores = await rollout.challenger_scores(picked)
            if scores is None:
                served_by[rows] = PRIMARY
            else:
                proba[rows] = scores
        rows = np.flatnonzero(served_by == PRIMARY)
        if len(rows):
            picked = columns_of([batch.applications[i] for i in rows])
            proba[rows] = rollout.primary_scores(picked)
        rows = np.flatnonzero(assigned == PRIMARY)
        if len(rows) and rollout.mirror is not None:
            customers = [batch.customer_ids[i] for i in rows]
            picked = columns_of([batch.applications[i] for i in rows])
            rid = next(rollout.request_ids)
            rollout.mirror.submit(rid, customers, picked, proba[rows].tolist())
        rollout.served.update(served_by.tolist())
        thresholds = np.where(
            served_by == CHALLENGER,
            rollout.challenger.threshold,
            rollout.primary.threshold,
        )
        versions = {v: rollout.model(v).version for v in (PRIMARY, CHALLENGER)}
        return RolloutBatchPrediction(
            probability_of_default=proba.tolist(),
            decision=np.where(proba >= thresholds, "reject", "approve").tolist(),
            assigned=assigned.tolist(),
            served_by=served_by.tolist(),
            model_version=[versions[v] for v in served_by.tolist()],
            n_rows=len(proba),
        )

    return app


def rollout_app_from_env() -> FastAPI:
    """Uvicorn factory: the JSON config file named by ``MLOPS_ROLLOUT_CONFIG``."""
    if not logging.getLogger().handlers:  # the process entry point: logs to stderr
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s"
        )
    path = os.environ.get(CONFIG_ENV, "")
    if not path:
        raise RuntimeError(f"set {CONFIG_ENV} to the rollout's JSON config file")
    config = RolloutConfig.model_validate_json(Path(path).read_text(encoding="utf-8"))
    return create_rollout_app(config.primary, config.challenger, config.policy)


def uvicorn_command(*extra: str) -> list[str]:
    """The argument list running the rollout app with uvicorn on ``{port}``."""
    import sys

    argv = [sys.executable, "-m", "uvicorn"]
    argv += ["mlops_course.serving.rollout:rollout_app_from_env", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", "{port}", "--no-access-log"]
    return [*argv, *extra]


# ---------------------------------------------------------------------- Seldon Core
SELDON_SCHEMAS = {
    "v1": "seldondeployment-v1.schema.json",  # SeldonDeployment
    "v2": "seldon-core-v2.schema.json",  # Seldon Core 2: Model and Experiment
}


def seldon_schema(version: Literal["v1", "v2"] = "v1") -> dict[str, Any]:
    """A vendored schema: v1 SeldonDeployment, or Core 2 Model and Experiment."""
    if version not in SELDON_SCHEMAS:
        raise ValueError(f"version must be one of {sorted(SELDON_SCHEMAS)}")
    path = resources.files("mlops_course").joinpath("schemas", SELDON_SCHEMAS[version])
    return json.loads(path.read_text(encoding="utf-8"))


def seldon_webhook_problems(manifest: Mapping[str, Any]) -> list[str]:
    """The traffic rules Seldon's admission webhook adds to the schema, as messages.

    Mirrors ``checkTraffic``, ``validateShadow`` and the duplicate-name check of
    Seldon Core v1's operator (``seldondeployment_webhook.go``): at most one
    shadow, which cannot stand alone; the traffic of the predictors that are not
    shadows sums to 100 when there are several; names are unique.
    """
    predictors = list(manifest.get("spec", {}).get("predictors", []))
    problems = []
    shadows = [p for p in predictors if p.get("shadow")]
    served = [p for p in predictors if not p.get("shadow")]
    if len(shadows) > 1:
        problems.append("Multiple shadows are not allowed")
    if len(predictors) == 1 and shadows:
        problems.append("Shadow can not exist as only predictor")
    # a traffic that is not an integer is the schema's error, not counted here
    total = sum(t for p in served if isinstance(t := p.get("traffic", 0), int))
    if len(served) > 1 and total != 100:
        problems.append(
            f"Traffic must sum to 100 for multiple predictors (got {total})"
        )
    names = [p.get("name") for p in predictors]
    problems += [
        f"Duplicate predictor name {n!r}"
        for n in sorted(set(names))
        if names.count(n) > 1
    ]
    return problems


__all__ = [
    "BUCKETS",
    "CHALLENGER",
    "CONFIG_ENV",
    "Canary",
    "CanaryDecision",
    "CanaryPlan",
    "PRIMARY",
    "RolloutBatchPrediction",
    "RolloutBatchRequest",
    "RolloutConfig",
    "RolloutPolicy",
    "RolloutPrediction",
    "RolloutStatus",
    "ShadowMirror",
    "VariantTally",
    "assign",
    "bucket",
    "create_rollout_app",
    "rollout_app_from_env",
    "seldon_schema",
    "seldon_webhook_problems",
    "uvicorn_command",
]
