"""A bounded HTTP load generator for loopback servers, and a timer (chapter 5).

:func:`run_load` sends the same request ``n_requests`` times over
``concurrency`` keep-alive connections and records each latency. It speaks
just enough HTTP/1.1 itself (pre-encoded request bytes on asyncio streams):
a general client such as httpx spends ~0.3-0.5 ms of CPU per request, so on a
small machine the client, not the server, would set the ceiling.

Safety: it only targets loopback addresses (127.0.0.0/8, localhost, ::1), and
stops after ``n_requests`` or ``time_limit`` seconds, whichever comes first.

:func:`call_times` times a function called in-process (the one timing helper
the chapter and ``benchmarks/serving.py`` share).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np


class LoadTestError(RuntimeError):
    """The target is not loopback, or the server broke the HTTP exchange."""


@dataclass(frozen=True)
class LoadResult:
    """Latencies (seconds) of the requests that completed, and what went wrong."""

    latencies: np.ndarray
    wall_seconds: float
    concurrency: int
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def n_requests(self) -> int:
        """Requests that got an answer (any status)."""
        return int(self.latencies.size)

    @property
    def n_errors(self) -> int:
        """Answers whose status was not 2xx."""
        return sum(n for code, n in self.statuses.items() if not 200 <= code < 300)

    @property
    def throughput(self) -> float:
        """Answered requests per second of wall time."""
        return self.n_requests / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th latency percentile in milliseconds."""
        return float(np.percentile(self.latencies, q) * 1e3)


def call_times(
    function: Callable[[], object], repeat: int, warmup: int = 20
) -> np.ndarray:
    """Wall times (s) of ``repeat`` calls of ``function``, after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    times = np.empty(repeat)
    for i in range(repeat):
        started = time.perf_counter()
        function()
        times[i] = time.perf_counter() - started
    return times


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_request(
    host: str, port: int, method: str, path: str, body: bytes, content_type: str
) -> bytes:
    """The raw bytes of one HTTP/1.1 keep-alive request."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Accept: */*\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response: its status, and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise LoadTestError(f"not an HTTP response: {lines[0][:80]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    keep = headers.get("connection") != "close"
    return status, keep


async def run_load_async(
    url: str,
    body: bytes,
    *,
    method: str = "POST",
    content_type: str = "application/json",
    n_requests: int = 1000,
    concurrency: int = 8,
    time_limit: float = 30.0,
    warmup: int = 0,
) -> LoadResult:
    """Send ``body`` to ``url`` ``n_requests`` times on ``concurrency`` connections."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if parts.scheme != "http" or not _loopback(host):
        raise LoadTestError(f"load tests only target http on loopback, not {url!r}")
    if n_requests < 1 or concurrency < 1:
        raise ValueError("n_requests and concurrency must be at least 1")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    request = build_request(host, port, method, path, body, content_type)
    if (
        warmup
    ):  # untimed: connections open, caches fill, the server's code paths get hot
        await _phase(host, port, request, warmup, concurrency, time_limit, {})
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    latencies = await _phase(
        host, port, request, n_requests, concurrency, time_limit, statuses
    )
    wall = time.perf_counter() - started
    return LoadResult(
        np.array(latencies), wall, concurrency, dict(sorted(statuses.items()))
    )


async def _phase(
    host: str,
    port: int,
    request: bytes,
    n_requests: int,
    concurrency: int,
    time_limit: float,
    statuses: dict[int, int],
) -> list[float]:
    latencies: list[float] = []
    left = [n_requests]
    deadline = time.perf_counter() + time_limit

    async def worker() -> None:
        reader = writer = None
        try:
            while left[0] > 0 and time.perf_counter() < deadline:
                left[0] -= 1
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                started = time.perf_counter()
                writer.write(request)
                status, keep = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                if not keep:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n_requests))))
    return latencies


def run_load(url: str, body: bytes, **options) -> LoadResult:
    """Blocking :func:`run_load_async` (inside a running event loop, await that)."""
    return asyncio.run(run_load_async(url, body, **options))
