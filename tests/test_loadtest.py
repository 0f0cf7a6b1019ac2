"""The load generator's arithmetic and its HTTP reading, against a real local server.

Every cell that shows a load test's numbers is ignored by nbval (they depend on
the machine), so these hand-checked values are what keeps the arithmetic honest.
"""

from __future__ import annotations

import asyncio
import http.client
import sys
import textwrap

import numpy as np
import pytest

from mlops_course.loadtest import LoadResult, LoadTestError, run_load_async
from mlops_course.servers import serve

#: Ten latencies, 1 ms to 10 ms, deliberately out of order.
TEN = np.array([7, 1, 10, 4, 2, 9, 3, 8, 6, 5], dtype=float) / 1e3


def result(latencies, wall=1.0, statuses=None) -> LoadResult:
    return LoadResult(np.asarray(latencies, dtype=float), wall, 1, statuses or {})


@pytest.mark.parametrize(
    ("q", "ms"),
    [
        (0, 1.0),
        (50, 5.5),  # rank 0.5 x 9 = 4.5: halfway between 5 ms and 6 ms
        (90, 9.1),  # rank 8.1: 9 ms + 0.1 x (10 - 9); "nearest" or "lower" give 9
        (95, 9.55),  # rank 8.55
        (99, 9.91),  # rank 8.91
        (100, 10.0),
    ],
)
def test_percentiles_interpolate_linearly_between_sorted_samples(q, ms):
    """NumPy's default method: rank q/100 x (n - 1), linear between neighbours."""
    assert result(TEN).percentile_ms(q) == pytest.approx(ms, abs=1e-9)


def test_percentiles_of_one_sample_and_of_ties():
    assert result([0.004]).percentile_ms(99) == pytest.approx(4.0)
    assert result([0.002] * 9 + [0.100]).percentile_ms(50) == pytest.approx(2.0)
    # the 90th percentile of nine 2 ms answers and one of 100 ms: rank 8.1
    assert result([0.002] * 9 + [0.100]).percentile_ms(90) == pytest.approx(11.8)


def test_throughput_counts_every_answer_over_wall_time():
    statuses = {200: 7, 404: 1, 503: 2}
    load = result(TEN, wall=2.5, statuses=statuses)
    assert load.n_requests == 10
    assert load.throughput == pytest.approx(4.0)  # 10 answers / 2.5 s
    assert load.n_errors == 3  # 404 and 503: answers, but not successes
    assert result([], wall=0.0).throughput == 0.0  # nothing measured, no division


#: An HTTP/1.1 server answering /chunked in three chunks (one with an extension),
#: /sized with Content-Length, /close with Connection: close.
SERVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _answer(self):
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length)
            if self.path == "/chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in (b'{"probabilities": ', b"[0.25, 0.5]", b"}"):
                    self.wfile.write(b"%x\\r\\n%s\\r\\n" % (len(part), part))
                self.wfile.write(b"0;done=1\\r\\n\\r\\n")
            elif self.path in ("/sized", "/health", "/close"):
                body = b'{"ok": true}'
                self.send_response(200 if self.path != "/close" else 503)
                self.send_header("Content-Length", str(len(body)))
                if self.path == "/close":
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        do_GET = do_POST = _answer

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    script = tmp_path_factory.mktemp("server") / "server.py"
    script.write_text(SERVER)
    with serve([sys.executable, str(script), "{port}"]) as running:
        yield running


def load(url: str, **options) -> LoadResult:
    """run_load, with a deadline: a misread response would otherwise wait forever."""

    async def bounded() -> LoadResult:
        return await asyncio.wait_for(run_load_async(url, b"{}", **options), 60)

    return asyncio.run(bounded())


def test_the_server_really_answers_in_chunks(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/chunked", body=b"{}")
    response = connection.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    assert response.read() == b'{"probabilities": [0.25, 0.5]}'
    connection.close()


@pytest.mark.parametrize("path", ["/chunked", "/sized"])
def test_every_response_on_a_kept_alive_connection_is_read_whole(server, path):
    # Two connections, 40 requests: each reuses its connection 20 times, so a
    # response read short or long would garble the next one's status line.
    got = load(server.url + path, n_requests=40, concurrency=2)
    assert got.n_requests == 40
    assert got.statuses == {200: 40}
    assert got.n_errors == 0
    assert got.latencies.min() > 0


def test_a_closed_connection_is_reopened_and_errors_are_counted(server):
    got = load(server.url + "/close", n_requests=6, concurrency=2)
    assert got.statuses == {503: 6}
    assert got.n_errors == 6


def test_only_loopback_http_is_a_target():
    with pytest.raises(LoadTestError, match="loopback"):
        load("http://192.0.2.1:80/predict", n_requests=1)  # TEST-NET: never reached
    with pytest.raises(LoadTestError, match="loopback"):
        load("https://127.0.0.1:443/predict", n_requests=1)
    with pytest.raises(ValueError, match="at least 1"):
        load("http://127.0.0.1:9/predict", n_requests=0)
