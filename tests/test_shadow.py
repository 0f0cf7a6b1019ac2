"""The shadow mirror: challenger copies off the request path, each outcome logged."""

from __future__ import annotations

import json
import threading

import numpy as np

from mlops_course.serving import LoadedModel
from mlops_course.serving.shadow import ShadowMirror


class Engine:
    """A challenger engine: answers 0.25 per row, raises, or blocks until released."""

    name = "test"

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.release = threading.Event()

    def predict_proba(self, columns):
        if self.mode == "raise":
            raise KeyError("loan_to_income")
        if self.mode == "hang":
            self.release.wait(30)
        return np.full(len(columns["age"]), 0.25)


def challenger(engine) -> LoadedModel:
    return LoadedModel(
        engine=engine,
        name="credit-default",
        version="2",
        source="memory",
        training_data_hash=None,
        threshold=0.3,
        threshold_source="test",
    )


def test_each_copy_becomes_one_record_and_one_json_line_per_customer(tmp_path):
    log = tmp_path / "shadow.jsonl"
    mirror = ShadowMirror(challenger(Engine()), log_path=log)
    try:
        assert mirror.submit(1, ["C1", "C2"], {"age": [30, 40]}, [0.1, 0.9])
        assert mirror.drain(10)
    finally:
        mirror.close()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == list(mirror.records)
    assert [(r["customer_id"], r["primary"], r["challenger"]) for r in lines] == [
        ("C1", 0.1, 0.25),
        ("C2", 0.9, 0.25),
    ]
    assert {r["status"] for r in lines} == {"ok"}
    assert lines[0]["challenger_version"] == "2"
    assert mirror.counts == {"submitted": 1, "ok": 1}


def test_a_failing_or_hanging_challenger_is_recorded_not_raised():
    raising = ShadowMirror(challenger(Engine("raise")))
    hanging_engine = Engine("hang")
    hanging = ShadowMirror(challenger(hanging_engine), timeout=0.2, max_stuck=1)
    try:
        raising.submit(1, ["C1"], {"age": [30]}, [0.1])
        assert raising.drain(10)
        assert raising.records[0]["status"] == "error"
        assert "loan_to_income" in raising.records[0]["error"]
        for rid in (1, 2):  # the second finds the first still stuck: skipped
            hanging.submit(rid, ["C1"], {"age": [30]}, [0.1])
        assert hanging.drain(10)
        assert [r["status"] for r in hanging.records] == ["timeout", "skipped"]
    finally:
        hanging_engine.release.set()
        raising.close()
        hanging.close()


def test_a_full_queue_drops_the_copy_and_counts_it():
    engine = Engine("hang")
    mirror = ShadowMirror(challenger(engine), timeout=5, max_queue=1)
    try:
        accepted = [mirror.submit(i, ["C1"], {"age": [30]}, [0.1]) for i in range(5)]
        assert accepted[-1] is False  # one in the call, one queued: the rest drop
        assert mirror.counts["dropped"] == accepted.count(False) >= 3
    finally:
        engine.release.set()
        mirror.drain(10)
        mirror.close()
