"""The shadow mirror: copies of requests scored by the challenger, off the request path.

After the primary has answered, the request is put on a bounded queue (never
waited on); a background thread scores it with the challenger under a timeout
and logs both predictions as JSON lines. A full queue drops the copy; a
challenger that raises or hangs is logged, and never changes an answer. It
still runs in the service's process: a CPU-bound challenger competes with the
primary for the CPU and the GIL, and a call past its timeout keeps running. A
production shadow is a separate deployment. Chapter 12 uses it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlops_course.serving.loading import LoadedModel

logger = logging.getLogger("mlops_course.serving.rollout")  # the rollout's log


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


__all__ = ["ShadowMirror"]
