"""The service answers over real HTTP (`bentoml serve`), 400 on bad input."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mlops_course.data import FEATURES, generate_applications

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(trained):
    port = free_port()
    bentoml = Path(sys.executable).parent / "bentoml"
    server = subprocess.Popen(
        [str(bentoml), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=os.environ.copy(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "bentoml serve exited"
            time.sleep(0.5)
        else:
            pytest.fail("bentoml serve did not become ready")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_predict_scores_a_batch(url):
    rows = generate_applications(3, seed=1)[FEATURES].to_dict("records")
    answer = httpx.post(url + "/predict", json={"applications": rows}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body) == 3
    assert all(0 <= a["probability_of_default"] <= 1 for a in body)
    assert {a["decision"] for a in body} <= {"approve", "reject"}


def test_an_impossible_age_is_refused_with_the_field(url):
    row = generate_applications(1, seed=1)[FEATURES].to_dict("records")[0]
    row["age"] = 7
    answer = httpx.post(url + "/predict", json={"applications": [row]}, timeout=30)
    assert answer.status_code == 400, answer.text
    assert "age" in answer.text
