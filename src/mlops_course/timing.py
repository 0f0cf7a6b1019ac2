"""Repeated timings of a call, and the word they allow (chapter 20).

One timing of one call says little on a shared machine: another process may
have taken the core for a while. :func:`time_runs` times ``runs`` separate
runs of ``calls`` calls each (after warm-up calls) and keeps each run's
seconds per call, so a chapter can quote a median *and* the range around it;
:func:`time_interleaved` does the same for several functions taking turns, so
a drift in the machine's load is shared by all of them.
:func:`speed_word` then says "faster" or "slower" only when the two ranges do
not overlap, and "no measurable difference" otherwise: the word comes from
the measurement, whatever the machine printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

#: What :func:`speed_word` returns.
SPEED_WORDS = ("faster", "slower", "no measurable difference")


@dataclass(frozen=True)
class Timing:
    """Seconds per call in each of several runs."""

    seconds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.seconds:
            raise ValueError("a timing needs at least one run")
        if any(not np.isfinite(s) or s < 0 for s in self.seconds):
            raise ValueError(f"seconds per call must be finite, >= 0: {self.seconds}")

    @property
    def median(self) -> float:
        """Median seconds per call over the runs."""
        return float(np.median(self.seconds))

    @property
    def low(self) -> float:
        """The fastest run's seconds per call."""
        return float(min(self.seconds))

    @property
    def high(self) -> float:
        """The slowest run's seconds per call."""
        return float(max(self.seconds))

    def ms(self) -> str:
        """``"1.23 ms (1.20-1.31)"``: the median and the range, in milliseconds."""
        median, low, high = (s * 1e3 for s in (self.median, self.low, self.high))
        return f"{median:.3g} ms ({low:.3g}-{high:.3g})"


def time_runs(
    function: Callable[[], object], *, runs: int = 5, calls: int = 10, warmup: int = 3
) -> Timing:
    """Time ``runs`` runs of ``calls`` calls of ``function`` after ``warmup`` calls."""
    if runs < 1 or calls < 1 or warmup < 0:
        raise ValueError("runs and calls must be >= 1, warmup >= 0")
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        seconds.append((time.perf_counter() - started) / calls)
    return Timing(tuple(seconds))


def time_interleaved(
    functions: Mapping[str, Callable[[], object]],
    *,
    runs: int = 5,
    calls: int = 10,
    warmup: int = 3,
) -> dict[str, Timing]:
    """Time several functions run by run in turn: A, B, C, A, B, C...

    On a shared machine the load drifts; taking turns spreads that drift over
    every function instead of charging it to whichever was timed last.
    """
    if runs < 1 or calls < 1 or warmup < 0:
        raise ValueError("runs and calls must be >= 1, warmup >= 0")
    for function in functions.values():
        for _ in range(warmup):
            function()
    seconds: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            started = time.perf_counter()
            for _ in range(calls):
                function()
            seconds[name].append((time.perf_counter() - started) / calls)
    return {name: Timing(tuple(values)) for name, values in seconds.items()}


def speed_word(candidate: Timing, baseline: Timing) -> str:
    """ "faster" or "slower" than ``baseline`` when the ranges do not overlap.

    Every run of a "faster" candidate beat every run of the baseline; when the
    ranges overlap the runs cannot rank the two: "no measurable difference".
    """
    if candidate.high < baseline.low:
        return "faster"
    if candidate.low > baseline.high:
        return "slower"
    return "no measurable difference"
