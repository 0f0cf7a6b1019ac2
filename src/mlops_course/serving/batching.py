"""Dynamic (micro-)batching: concurrent single-row requests scored together (ch 15).

A :class:`MicroBatcher` gathers single-row requests that arrive close together
and scores them with ONE engine call: the first request of a batch waits at
most ``max_wait_ms`` for companions, a batch holds at most ``max_batch_size``
rows, and each request gets its own answer back through an asyncio future.
With ``adaptive=True`` the wait applies only under load: a row that finds the
queue empty is scored at once (no companion is coming), while a row that finds
others queued behind it waits up to ``max_wait_ms`` for the batch to fill. A
lone request then pays no wait, and batches grow exactly when traffic does.
One batcher (one queue, one scoring loop) serves every model of the process: a
batch is split by model name and each model's rows go to its engine at once.
The engine runs on the event loop by default (a call of well under a
millisecond, as chapter 5's ``async def`` routes do); ``offload=True`` moves it
to one worker thread that every model shares, for models slow enough that the
loop should keep reading requests meanwhile. On a busy CPU each hop to that
thread costs a context switch, which can exceed the call it saves.

Failures stay with their request: if an engine call fails on a batch, its rows
are scored one by one, so only the row that fails gets the error. Shutdown
(:meth:`MicroBatcher.close`) refuses new rows and answers every queued one
before the scoring thread stops. ``serving.multi_model`` serves it over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mlops_course.serving.engines import Engine
from mlops_course.serving.schemas import (
    ENV_PREFIX,
    MAX_BATCH_ROWS,
    Application,
    columns_of,
)
from mlops_course.serving.settings import EnvSettings

logger = logging.getLogger("mlops_course.serving")

BATCH_PREFIX = f"{ENV_PREFIX}BATCH_"


class BatcherClosed(RuntimeError):
    """The batcher is shutting down and takes no new rows."""


class BatchSettings(EnvSettings):
    """Whether to batch, and how: at most ``max_batch_size`` rows, ``max_wait_ms``."""

    model_config = SettingsConfigDict(env_prefix=BATCH_PREFIX)

    enabled: bool = True
    max_batch_size: int = Field(32, ge=1, le=MAX_BATCH_ROWS)
    max_wait_ms: float = Field(1.0, ge=0, le=1_000)
    adaptive: bool = False
    offload: bool = False


@dataclass
class BatchStats:
    """What the batcher did: batches run, rows scored, how often each size occurred."""

    batches: int = 0
    rows: int = 0
    failed_batches: int = 0
    sizes: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts, sizes in increasing order."""
        mean = self.rows / self.batches if self.batches else 0.0
        return {
            "batches": self.batches,
            "rows": self.rows,
            "failed_batches": self.failed_batches,
            "mean_batch_size": round(mean, 2),
            "sizes": {str(k): v for k, v in sorted(self.sizes.items())},
        }


@dataclass
class _Item:
    model: str
    application: Application
    future: asyncio.Future


_STOP = object()


class MicroBatcher:
    """Gathers concurrent rows into batches; one engine call per model and batch.

    ``engines`` maps a model name to its engine. A batch closes when it holds
    ``max_batch_size`` rows or ``max_wait_ms`` after its first row; with
    ``adaptive=True`` it closes at once when no other row is queued behind the
    first (no wait without load). Engine calls run on the event loop, or with
    ``offload=True`` on ``executor`` (one shared worker thread unless given), so
    the loop keeps reading requests while a batch is scored.
    Use it inside a running event loop: ``start()``, ``await submit(...)``,
    ``await close()``.
    """

    def __init__(
        self,
        engines: Mapping[str, Engine],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 1.0,
        adaptive: bool = False,
        offload: bool = False,
        executor: Executor | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, not {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, not {max_wait_ms}")
        self.engines = dict(engines)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1e3
        self.adaptive = adaptive
        self.stats = BatchStats()
        self.offload = offload or executor is not None
        self._own_executor = executor is None
        self._executor = executor
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._closed = True

    def start(self) -> None:
        """Start the batching task on the running event loop."""
        if self._task is not None:
            raise RuntimeError("batcher already started")
        if self.offload and self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="batcher")
        self._queue = asyncio.Queue()
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return not self._closed

    async def submit(self, model: str, application: Application) -> float:
        """P(default) of one validated application, scored in the next batch."""
        if self._closed or self._queue is None:
            raise BatcherClosed("the service is shutting down")
        if model not in self.engines:
            raise KeyError(f"no model named {model!r}")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(model, application, future))
        return await future

    async def close(self) -> None:
        """Refuse new rows, answer every queued one, then stop the task and thread."""
        if self._task is None or self._queue is None:
            return
        self._closed = True
        self._queue.put_nowait(_STOP)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _collect(self, first: _Item) -> tuple[list[_Item], bool]:
        """``first`` and the rows that join it within the wait; True on stop."""
        assert self._queue is not None
        queue, batch = self._queue, [first]
        if self.adaptive and queue.empty():
            return batch, False  # no load: nobody to wait for
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(batch) < self.max_batch_size:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    async def _run(self) -> None:
        assert self._queue is not None
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch, stop = await self._collect(first)
            await self._score(batch)
        # rows queued behind the stop marker cannot exist: submit refuses them

    async def _call(self, engine: Engine, rows: Sequence[Application]) -> np.ndarray:
        """One engine call, on the loop or on the worker thread."""
        if not self.offload:
            return _predict(engine, rows)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _predict, engine, rows)

    async def _score(self, batch: Sequence[_Item]) -> None:
        """Score each model's rows with one engine call; resolve every future."""
        self.stats.batches += 1
        self.stats.rows += len(batch)
        self.stats.sizes[len(batch)] += 1
        groups: dict[str, list[_Item]] = {}
        for item in batch:
            groups.setdefault(item.model, []).append(item)
        for name, items in groups.items():
            engine = self.engines[name]
            rows = [item.application for item in items]
            try:
                proba = await self._call(engine, rows)
            except Exception as exc:
                self.stats.failed_batches += 1
                logger.warning("batch of %d for %s failed: %s", len(rows), name, exc)
                await self._score_alone(engine, items)
                continue
            for item, p in zip(items, proba, strict=True):
                if not item.future.done():  # the client may have gone away
                    item.future.set_result(float(p))

    async def _score_alone(self, engine: Engine, items: Sequence[_Item]) -> None:
        """After a failed batch: one call per row, so an error stays with its row."""
        for item in items:
            try:
                proba = await self._call(engine, [item.application])
            except Exception as exc:
                if not item.future.done():
                    item.future.set_exception(exc)
            else:
                if not item.future.done():
                    item.future.set_result(float(proba[0]))


def _predict(engine: Engine, rows: Sequence[Application]) -> np.ndarray:
    """One engine call on ``rows``; refuses an answer of the wrong length."""
    proba = np.asarray(engine.predict_proba(columns_of(rows)), dtype=float)
    if proba.shape != (len(rows),):
        raise ValueError(f"engine returned shape {proba.shape} for {len(rows)} rows")
    return proba


__all__ = [
    "BATCH_PREFIX",
    "BatchSettings",
    "BatchStats",
    "BatcherClosed",
    "MicroBatcher",
]
