"""What training on spot capacity and serving predictions cost (chapter 22).

Two small models, each with a closed form and (for preemption) a simulation
that checks it:

- **preemption**: a job needs ``work_h`` hours of computation; interruptions
  arrive at random (a Poisson process, ``rate_per_h`` per hour of running);
  after each one the job waits ``restart_h`` (a new machine, loading) and
  starts again from its last checkpoint, written every ``interval_h`` hours of
  work at a cost of ``write_h``. Without checkpoints every interruption starts
  the job from zero. A segment of ``s`` hours that must run uninterrupted takes
  ``(exp(rate * s) - 1) * (1 / rate + restart_h)`` hours on average;
- **serving**: one machine at ``price_per_h`` answering ``rows_per_s`` rows a
  second while busy, busy a share ``utilisation`` of the time it is paid for,
  costs ``price_per_h / (3600 * rows_per_s * utilisation) * 1000`` per 1,000
  predictions.
"""

from __future__ import annotations

import math

import numpy as np


def segments(work_h: float, interval_h: float | None, write_h: float) -> list[float]:
    """Lengths (h) of the stretches that must each run uninterrupted.

    Every ``interval_h`` of work ends with a checkpoint write of ``write_h``;
    ``interval_h=None`` means no checkpoint: one stretch of ``work_h``.
    """
    if work_h <= 0:
        raise ValueError(f"work_h must be positive, not {work_h}")
    if interval_h is None:
        return [work_h]
    if interval_h <= 0:
        raise ValueError(f"interval_h must be positive, not {interval_h}")
    full, rest = divmod(work_h, interval_h)
    stretches = [interval_h + write_h] * int(full)
    if rest > 1e-12:
        stretches.append(rest + write_h)
    return stretches


def expected_hours(
    work_h: float,
    rate_per_h: float,
    *,
    interval_h: float | None = None,
    write_h: float = 0.0,
    restart_h: float = 0.0,
) -> float:
    """Mean wall-clock hours to finish the job (closed form)."""
    if rate_per_h < 0:
        raise ValueError(f"rate_per_h cannot be negative: {rate_per_h}")
    stretches = segments(work_h, interval_h, write_h)
    if rate_per_h == 0:
        return float(sum(stretches))
    per_failure = 1 / rate_per_h + restart_h
    return float(sum(math.expm1(rate_per_h * s) * per_failure for s in stretches))


def simulate_hours(
    work_h: float,
    rate_per_h: float,
    *,
    interval_h: float | None = None,
    write_h: float = 0.0,
    restart_h: float = 0.0,
    n_runs: int = 1_000,
    seed: int = 0,
) -> np.ndarray:
    """Wall-clock hours of ``n_runs`` simulated jobs, each its own random draws."""
    rng = np.random.default_rng(seed)
    stretches = segments(work_h, interval_h, write_h)
    hours = np.zeros(n_runs)
    for run in range(n_runs):
        for length in stretches:
            while True:
                until_failure = (
                    rng.exponential(1 / rate_per_h) if rate_per_h else np.inf
                )
                if until_failure >= length:
                    hours[run] += length
                    break
                hours[run] += until_failure + restart_h  # lost work, then restart
    return hours


def mean_interval(
    values: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """The mean of ``values`` and a normal-approximation interval for it."""
    from scipy.stats import norm

    values = np.asarray(values, dtype=float)
    z = float(norm.ppf(0.5 + confidence / 2))
    half = z * values.std(ddof=1) / math.sqrt(values.size)
    mean = float(values.mean())
    return mean, mean - half, mean + half


def young_interval(rate_per_h: float, write_h: float) -> float:
    """Young's approximation of the best checkpoint interval: sqrt(2 write / rate)."""
    return math.sqrt(2 * write_h / rate_per_h)


def cost_per_1000(price_per_h: float, rows_per_s: float, utilisation: float) -> float:
    """Cost of 1,000 predictions on a machine paid by the hour."""
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation is a share in (0, 1], not {utilisation}")
    if rows_per_s <= 0:
        raise ValueError(f"rows_per_s must be positive, not {rows_per_s}")
    return price_per_h / (3600 * rows_per_s * utilisation) * 1000


__all__ = [
    "cost_per_1000",
    "expected_hours",
    "mean_interval",
    "segments",
    "simulate_hours",
    "young_interval",
]
