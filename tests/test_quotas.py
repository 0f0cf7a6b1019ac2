"""Per-tenant quotas: token buckets and Retry-After (``serving.quotas``, chapter 16).

The 429 the gate answers in front of the app is tested through the service in
``test_tenancy.py``.
"""

from __future__ import annotations

import pytest

from mlops_course.serving.quotas import Quota, Quotas, TokenBucket, quotas_from_json


def test_token_bucket_allows_a_burst_then_refuses_until_a_token_is_due():
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert wait == pytest.approx(0.1)  # one token every 1/rate seconds
    now[0] += 0.1
    assert bucket.take() == 0.0
    assert bucket.take() > 0


def test_retry_after_is_whole_seconds_and_at_least_one():
    assert Quotas.retry_after(0.02) == "1"
    assert Quotas.retry_after(1.2) == "2"


def test_quotas_limit_only_the_tenants_that_have_one():
    now = [0.0]
    quotas = Quotas({"cards": Quota(rate=1, burst=1)}, clock=lambda: now[0])
    assert quotas.wait("cards") == 0.0
    assert quotas.wait("cards") > 0
    assert all(quotas.wait("loans") == 0.0 for _ in range(100))


def test_quotas_from_json_reads_rate_and_burst_with_a_default_burst():
    table = quotas_from_json('{"a": {"rate": 2, "burst": 3}, "b": {"rate": 0.5}}')
    assert table == {"a": Quota(2.0, 3), "b": Quota(0.5, 1)}
    assert quotas_from_json("  ") == {}
