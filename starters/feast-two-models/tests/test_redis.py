"""The same repository with Redis online: same answers as SQLite.

redis-server is optional: where it is not installed this test is skipped with
the reason (the course's helper starts it on a free loopback port).
"""

import os
from datetime import UTC, datetime, timedelta

import pytest
from feast import FeatureStore

from mlops_course.features import redis_available, redis_server

pytestmark = pytest.mark.skipif(
    not redis_available(), reason="redis-server is not installed (optional)"
)


def test_redis_serves_what_sqlite_serves(feast_repo):
    repo, sqlite_store, _, events = feast_repo
    rows = [{"customer_id": c} for c in events["customer_id"].tail(5)]
    features = ["customer_activity:utilization", "customer_profile:age"]
    expected = sqlite_store.get_online_features(features, rows).to_dict()
    start = events["event_timestamp"].min() - timedelta(days=400)
    with redis_server() as server:
        os.environ["REDIS_CONNECTION_STRING"] = server.connection_string
        store = FeatureStore(
            repo_path=str(repo), fs_yaml_file=repo / "feature_store.redis.yaml"
        )
        store.materialize(start_date=start, end_date=datetime.now(UTC))
        assert store.get_online_features(features, rows).to_dict() == expected
