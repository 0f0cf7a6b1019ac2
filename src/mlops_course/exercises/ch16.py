"""Checks for chapter 16's exercises (a larger burst, a cache's working set)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from mlops_course.exercises import exercise, expect, expect_type
from mlops_course.serving.model_cache import ModelCache
from mlops_course.serving.quotas import Quotas, TokenBucket

BURST = 20  # the exercise's burst
SENT = 30  # requests sent at t = 0
N_VERSIONS, N_REQUESTS = 4, 20  # the exercise's round-robin


@exercise("ex-16-1")
def bigger_burst(allowed, retry_after, refill_s, *, cards_rate, cards_burst) -> str:
    """A burst of 20 at the cards team's rate: what passes, Retry-After, refill time."""
    expect_type(allowed, numbers.Integral, "the number of requests that went through")
    expect_type(refill_s, numbers.Real, "the seconds to refill the bucket")
    now = [0.0]
    bucket = TokenBucket(rate=cards_rate, burst=BURST, clock=lambda: now[0])
    waits = [bucket.take() for _ in range(SENT)]
    passed = sum(w == 0 for w in waits)
    expect(
        allowed != cards_burst or passed == cards_burst,
        f"{allowed} is the old burst: a bucket with burst={BURST} starts full, "
        f"with {BURST} tokens",
    )
    expect(
        allowed == passed,
        f"{allowed} went through by your count; at t = 0 a full bucket lets "
        "through as many requests as it holds tokens, and refuses the rest",
    )
    header = Quotas.retry_after(next(w for w in waits if w > 0))
    expect(
        str(retry_after) == header,
        f"Retry-After {retry_after!r}: the next token is due in 1 / rate seconds, "
        f"{1 / cards_rate:g}, and the header rounds up to whole seconds, {header!r}",
    )
    expect(
        abs(refill_s - 1 / cards_rate) > 1e-12 or BURST == 1,
        f"{refill_s:g} s refills one token: the whole burst of {BURST} takes "
        "burst / rate seconds",
    )
    expect(
        abs(refill_s - BURST / cards_rate) < 1e-9,
        f"{refill_s:g} s: {BURST} tokens at {cards_rate:g} a second take "
        f"{BURST / cards_rate:g} s to come back",
    )
    return (
        "the burst passes, the rest wait for the next token (Retry-After rounds "
        "up), and a full refill takes burst / rate: a larger burst starts a batch "
        "faster without raising the sustained rate"
    )


def _loads(models_held: int) -> int:
    cache = ModelCache(models_held * 10, lambda key: (key, 10))
    for i in range(N_REQUESTS):
        cache.get(("fraud", "model", i % N_VERSIONS))
    return cache.stats.loads


@exercise("ex-16-2")
def working_set(loads) -> str:
    """Loads for 20 round-robin requests over 4 versions, budgets of 3 and 4 models."""
    expect_type(loads, Mapping, "a dict: models the budget holds -> loads")
    expect(
        set(loads) == {3, 4},
        f"loads has budgets {sorted(loads)}: give the loads for 3 and for 4 models",
    )
    want = {held: _loads(held) for held in (3, 4)}
    expect(
        loads[3] == want[3],
        f"{loads[3]} loads with room for 3: with four models used in turn, "
        "least-recently-used eviction always throws out the model needed next, "
        f"so all {want[3]} requests load",
    )
    expect(
        loads[4] == want[4],
        f"{loads[4]} loads with room for 4: the whole working set fits, so each "
        f"model loads once ({want[4]} loads) and then never again",
    )
    return (
        "one model short of the working set, every request loads (thrashing); "
        "with the working set held, four loads and then none"
    )
