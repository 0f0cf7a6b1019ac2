"""Score one ONNX model in several processes at once, and count rows/s (chapter 20).

ONNX Runtime can use several threads inside one call (``intra_op_num_threads``);
a server can instead run several processes of one thread each (uvicorn's
``--workers``). :func:`rows_per_second` measures the second set-up: it starts
``processes`` fresh Python processes (``spawn``: nothing inherited from the
caller's threads), each loads the model with ``threads`` intra-op threads,
they wait for one another at a barrier, then each makes ``calls`` calls on a
batch of ``batch_rows`` rows, ``rounds`` times. Each round's throughput is all
processes' rows divided by the time from the common start to the last one's
end. ``processes=1`` gives the one-process figure by the same path, so the
set-ups differ only in what is compared.

The model's single input takes float32 ``[rows, n_features]`` (a network
without its preprocessing), and the rows are seeded random numbers: speed, not
predictions, is measured here.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time

import numpy as np

#: Longest a worker may take to load, or a caller wait for a round, in seconds.
TIMEOUT_S = 120.0


def _worker(
    model_path: str,
    threads: int,
    batch_rows: int,
    calls: int,
    rounds: int,
    seed: int,
    barrier,
    results,
) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        model_path, sess_options=options, providers=["CPUExecutionProvider"]
    )
    (model_input,) = session.get_inputs()
    n_features = int(model_input.shape[1])
    rng = np.random.default_rng(seed)
    feeds = {
        model_input.name: rng.normal(size=(batch_rows, n_features)).astype(np.float32)
    }
    session.run(None, feeds)  # warm-up
    for round_ in range(rounds):
        barrier.wait(TIMEOUT_S)
        started = time.monotonic()
        for _ in range(calls):
            session.run(None, feeds)
        results.put((round_, started, time.monotonic()))


def rows_per_second(
    model_path: str | os.PathLike,
    *,
    processes: int = 1,
    threads: int = 1,
    batch_rows: int = 1_024,
    calls: int = 10,
    rounds: int = 3,
    seed: int = 0,
) -> list[float]:
    """Rows scored per second by all processes together, one figure per round."""
    if processes < 1 or threads < 1 or batch_rows < 1 or calls < 1 or rounds < 1:
        raise ValueError("processes, threads, batch_rows, calls, rounds must be >= 1")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(
                os.fspath(model_path),
                threads,
                batch_rows,
                calls,
                rounds,
                seed + i,
                barrier,
                results,
            ),
            daemon=True,
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        spans: dict[int, list[tuple[float, float]]] = {r: [] for r in range(rounds)}
        deadline = time.monotonic() + TIMEOUT_S
        received = 0
        while received < processes * rounds:
            try:
                round_, started, ended = results.get(timeout=0.5)
            except queue.Empty:
                codes = [w.exitcode for w in workers]
                if any(c not in (None, 0) for c in codes):
                    raise RuntimeError(
                        f"a scoring process stopped (exit codes {codes})"
                    ) from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer in {TIMEOUT_S:g} s") from None
                continue
            spans[round_].append((started, ended))
            received += 1
        for worker in workers:
            worker.join(TIMEOUT_S)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
    rows = processes * calls * batch_rows
    return [
        rows / (max(e for _, e in span) - min(s for s, _ in span))
        for _, span in sorted(spans.items())
    ]
