"""The micro-batcher: concurrent rows scored together, each answered (chapter 15)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from mlops_course import serving
from mlops_course.modeling import features_and_target, wide_mlp
from mlops_course.serialization import as_model_input
from mlops_course.serving import Application, batching, to_records

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def rows(two_model_split):
    records = to_records(two_model_split.test.iloc[:40])
    return [Application.model_validate(r) for r in records]


class Counting:
    """A real engine that records the size of every call, and may refuse a row."""

    def __init__(self, engine, refuse_age: int | None = None):
        self.engine, self.name, self.calls = engine, engine.name, []
        self.refuse_age = refuse_age

    def predict_proba(self, columns):
        self.calls.append(len(columns["age"]))
        if self.refuse_age is not None and self.refuse_age in columns["age"]:
            raise ValueError(f"age {self.refuse_age} refused")
        return self.engine.predict_proba(columns)


def alone(engine, application) -> float:
    return float(engine.predict_proba(serving.columns_of([application]))[0])


@pytest.mark.anyio
@pytest.mark.parametrize("offload", [False, True])
async def test_concurrent_rows_share_one_engine_call_and_get_their_own_answer(
    two_engines, rows, offload
):
    counting = Counting(two_engines["small"])
    batcher = batching.MicroBatcher(
        {"small": counting}, max_batch_size=8, max_wait_ms=200, offload=offload
    )
    batcher.start()
    try:
        got = await asyncio.gather(*(batcher.submit("small", r) for r in rows[:20]))
    finally:
        await batcher.close()
    assert counting.calls == [8, 8, 4]
    want = [alone(two_engines["small"], r) for r in rows[:20]]
    assert np.allclose(got, want, atol=1e-6)
    assert batcher.stats.as_dict()["sizes"] == {"4": 1, "8": 2}


@pytest.mark.anyio
async def test_no_wait_means_a_lone_row_is_scored_at_once(two_engines, rows):
    counting = Counting(two_engines["small"])
    batcher = batching.MicroBatcher({"small": counting}, max_wait_ms=0)
    batcher.start()
    try:
        for row in rows[:3]:
            await batcher.submit("small", row)
    finally:
        await batcher.close()
    assert counting.calls == [1, 1, 1]


class Gated:
    """A real engine whose first call waits until the test opens the gate."""

    def __init__(self, engine):
        self.engine, self.name, self.calls = engine, engine.name, []
        self.gate = threading.Event()

    def predict_proba(self, columns):
        if not self.calls:
            self.gate.wait(timeout=60)
        self.calls.append(len(columns["age"]))
        return self.engine.predict_proba(columns)


@pytest.mark.anyio
async def test_adaptive_wait_scores_a_lone_row_at_once(two_engines, rows):
    # A wait of one hour: had the batcher waited, the call would never come.
    counting = Counting(two_engines["small"])
    batcher = batching.MicroBatcher(
        {"small": counting}, max_wait_ms=3_600_000, adaptive=True
    )
    batcher.start()
    try:
        for row in rows[:3]:
            got = await asyncio.wait_for(batcher.submit("small", row), timeout=60)
            assert got == pytest.approx(alone(two_engines["small"], row), abs=1e-6)
    finally:
        await batcher.close()
    assert counting.calls == [1, 1, 1]


@pytest.mark.anyio
async def test_adaptive_wait_batches_rows_that_queue_under_load(two_engines, rows):
    # The first call is held until 9 rows wait behind it (an event, not a time):
    # those rows found the queue busy, so they form one batch of at most 8.
    gated = Gated(two_engines["small"])
    batcher = batching.MicroBatcher(
        {"small": gated},
        max_batch_size=8,
        max_wait_ms=3_600_000,
        adaptive=True,
        offload=True,
    )
    batcher.start()
    try:
        first = asyncio.ensure_future(batcher.submit("small", rows[0]))
        while batcher.stats.batches == 0:  # the lone first row is being scored
            await asyncio.sleep(0)
        rest = [asyncio.ensure_future(batcher.submit("small", r)) for r in rows[1:10]]
        await asyncio.sleep(0)
        gated.gate.set()
        got = await asyncio.wait_for(asyncio.gather(first, *rest), timeout=60)
    finally:
        await batcher.close()
    assert gated.calls == [1, 8, 1]  # lone row; a full batch; the one left alone
    want = [alone(two_engines["small"], r) for r in rows[:10]]
    assert np.allclose(got, want, atol=1e-6)


@pytest.mark.anyio
async def test_models_share_the_batcher_one_call_per_model(two_engines, rows):
    small, large = Counting(two_engines["small"]), Counting(two_engines["large"])
    batcher = batching.MicroBatcher(
        {"small": small, "large": large}, max_batch_size=64, max_wait_ms=200
    )
    batcher.start()
    try:
        names = ["small", "large"] * 10
        got = await asyncio.gather(
            *(batcher.submit(n, r) for n, r in zip(names, rows, strict=False))
        )
    finally:
        await batcher.close()
    assert batcher.stats.batches == 1
    assert small.calls == [10] and large.calls == [10]
    want = [alone(two_engines[n], r) for n, r in zip(names, rows, strict=False)]
    assert np.allclose(got, want, atol=1e-6)
    assert not np.allclose(got[0::2], got[1::2], atol=1e-3)  # two different models


@pytest.mark.anyio
@pytest.mark.parametrize("offload", [False, True])
async def test_a_failing_row_does_not_fail_the_rest_of_its_batch(
    two_engines, rows, offload
):
    bad_age = 99  # a valid age no other row has: the engine refuses it
    batch = [*rows[:3], rows[3].model_copy(update={"age": bad_age}), *rows[4:12]]
    assert [r.age == bad_age for r in batch].count(True) == 1
    counting = Counting(two_engines["small"], refuse_age=bad_age)
    batcher = batching.MicroBatcher(
        {"small": counting}, max_batch_size=12, max_wait_ms=200, offload=offload
    )
    batcher.start()
    try:
        results = await asyncio.gather(
            *(batcher.submit("small", r) for r in batch), return_exceptions=True
        )
    finally:
        await batcher.close()
    errors = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    assert errors == [3]
    assert "refused" in str(results[3])
    good = [alone(two_engines["small"], r) for i, r in enumerate(batch) if i != 3]
    assert np.allclose([r for i, r in enumerate(results) if i != 3], good, atol=1e-6)
    assert batcher.stats.failed_batches == 1
    assert counting.calls == [12] + [1] * 12


@pytest.mark.anyio
async def test_close_answers_queued_rows_then_refuses_new_ones(two_engines, rows):
    batcher = batching.MicroBatcher(
        {"small": two_engines["small"]}, max_batch_size=4, max_wait_ms=50
    )
    batcher.start()
    pending = [asyncio.ensure_future(batcher.submit("small", r)) for r in rows[:10]]
    await asyncio.sleep(0)  # the rows are queued, the first batch is waiting
    await batcher.close()
    assert all(task.done() and task.exception() is None for task in pending)
    assert batcher.stats.rows == 10 and not batcher.running
    with pytest.raises(batching.BatcherClosed, match="shutting down"):
        await batcher.submit("small", rows[0])


@pytest.mark.anyio
async def test_unknown_model_and_bad_settings_are_refused(two_engines, rows):
    with pytest.raises(ValueError, match="max_batch_size must be >= 1, not 0"):
        batching.MicroBatcher({"small": two_engines["small"]}, max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms must be >= 0, not -1"):
        batching.MicroBatcher({"small": two_engines["small"]}, max_wait_ms=-1)
    batcher = batching.MicroBatcher({"small": two_engines["small"]})
    batcher.start()
    try:
        with pytest.raises(KeyError, match="no model named 'nope'"):
            await batcher.submit("nope", rows[0])
    finally:
        await batcher.close()


def test_wide_mlp_trains_in_float32_and_converts_with_parity(two_model_split):
    X, y = features_and_target(two_model_split.train)
    test, _ = features_and_target(two_model_split.test)
    mlp = wide_mlp(X, y, (32, 16), seed=1, max_rows=500)
    weights = mlp.named_steps["model"].coefs_
    assert [w.shape[1] for w in weights] == [32, 16, 1]
    assert all(w.dtype == np.float32 for w in weights)
    engine = serving.OnnxEngine.from_pipeline(mlp, test[:100])  # parity-checked
    proba = engine.predict_proba(as_model_input(test[:5]))
    assert np.allclose(proba, mlp.predict_proba(test[:5])[:, 1], atol=1e-5)
