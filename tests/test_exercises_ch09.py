"""Chapter 9's exercise checks, right and wrong answers, on a real Feast repo."""

from datetime import timedelta

import pandas as pd
import pytest

from mlops_course import data, features
from mlops_course.exercises import ch09
from tests.test_features import FEATURE_STORE_YAML, definitions

pytestmark = pytest.mark.slow  # a Feast repository, applied and materialized


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    from feast import FeatureStore

    applications = data.generate_applications(1_500, seed=9)
    sources = features.write_sources(
        applications, tmp_path_factory.mktemp("repo") / "data", seed=9
    )
    root = sources.customer_profile.parent.parent
    (root / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    store = FeatureStore(repo_path=str(root))
    store.apply(definitions(sources))
    store.materialize(
        sources.first_event - timedelta(days=400), sources.last_event + timedelta(90)
    )
    entity_df = applications[
        ["application_id", "customer_id", data.TIMESTAMP_COLUMN, data.TARGET]
    ]
    snapshots = pd.read_parquet(sources.customer_activity)
    return {
        "store": store,
        "entity_df": entity_df,
        "snapshots": snapshots,
        "test_rows": data.time_split(applications).test,
    }


def with_ttl(store, entity_df, days, restore=True):
    view = store.get_feature_view("customer_activity")
    view.ttl = timedelta(days=days)
    store.apply([view])
    frame = store.get_historical_features(
        entity_df=entity_df, features=["customer_activity:late_payments_90d"]
    ).to_df()
    if restore:
        view.ttl = timedelta(days=14)
        store.apply([view])
    return frame


def context(repo, *names):
    return {n: repo[n] for n in names}


def test_short_ttl_accepts_the_three_day_training_set(repo):
    short = with_ttl(repo["store"], repo["entity_df"], 3)
    assert len(short) < len(repo["entity_df"])
    fb = ch09.short_ttl(short, **context(repo, "store", "entity_df", "snapshots"))
    assert fb.ok is True, fb.message


def test_short_ttl_refuses_a_ttl_left_at_three_days(repo):
    short = with_ttl(repo["store"], repo["entity_df"], 3, restore=False)
    try:
        fb = ch09.short_ttl(short, **context(repo, "store", "entity_df", "snapshots"))
    finally:
        with_ttl(repo["store"], repo["entity_df"].iloc[:1], 14)
    assert fb.ok is False
    assert "put it back to 14 days" in fb.message


def test_short_ttl_refuses_the_training_set_of_another_ttl(repo):
    ctx = context(repo, "store", "entity_df", "snapshots")
    full = with_ttl(repo["store"], repo["entity_df"], 14)
    assert "the query did not see the 3-day TTL" in ch09.short_ttl(full, **ctx).message
    weekly = with_ttl(repo["store"], repo["entity_df"], 5)
    fb = ch09.short_ttl(weekly, **ctx)
    assert fb.ok is False
    assert "with a 3-day TTL the file offline store keeps" in fb.message


def test_online_consistency_accepts_counts_of_the_online_store(repo):
    ctx = context(repo, "store", "test_rows")
    fb = ch09.online_consistency(dict.fromkeys(data.FEATURES, 0), **ctx)
    assert fb.ok is True, fb.message


def test_online_consistency_refuses_missing_features_and_wrong_counts(repo):
    ctx = context(repo, "store", "test_rows")
    fb = ch09.online_consistency({"annual_income": 0}, **ctx)
    assert fb.ok is False and "you did not compare" in fb.message
    by_position = dict.fromkeys(data.FEATURES, 0) | {"annual_income": 187}
    fb = ch09.online_consistency(by_position, **ctx)
    assert fb.ok is False
    assert "your check counts 187 differing rows for annual_income" in fb.message
