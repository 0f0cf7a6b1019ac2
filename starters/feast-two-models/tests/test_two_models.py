"""Two models trained from one set of definitions, scored from the online store."""

import pandas as pd
import yaml
from models import SERVICES, feature_names, score


def test_the_models_share_the_profile_view_and_differ_in_the_rest(feast_repo):
    _, store, _, _ = feast_repo
    decision = set(feature_names(store, "credit_decision"))
    warning = set(feature_names(store, "early_warning"))
    assert {"age", "annual_income", "region"} <= decision & warning
    assert "loan_amount" in decision - warning
    assert {"late_payments_90d", "utilization"} <= warning - decision


def test_online_features_are_the_latest_offline_values(feast_repo):
    repo, store, _, events = feast_repo
    customer = events["customer_id"].iloc[-1]
    activity = pd.read_parquet(repo / "data" / "customer_activity.parquet")
    mine = activity[activity["customer_id"] == customer]
    latest = mine.sort_values("event_timestamp").iloc[-1]
    online = store.get_online_features(
        features=["customer_activity:utilization"],
        entity_rows=[{"customer_id": customer}],
    ).to_dict()
    assert online["utilization"] == [latest["utilization"]]


def test_both_models_score_the_same_request(feast_repo):
    _, store, trained, events = feast_repo
    rows = events[["application_id", "customer_id"]].tail(3).to_dict("records")
    scores = score(store, trained, rows)
    assert set(scores) == set(SERVICES)
    for values in scores.values():
        assert len(values) == 3 and all(0 <= p <= 1 for p in values)


def test_bigquery_changes_only_the_store_settings(feast_repo):
    repo, _, _, _ = feast_repo
    local = yaml.safe_load((repo / "feature_store.yaml").read_text())
    cloud = yaml.safe_load((repo / "feature_store.bigquery.yaml").read_text())
    changed = {k for k in local.keys() | cloud.keys() if local.get(k) != cloud.get(k)}
    assert changed == {"provider", "registry", "online_store", "offline_store"}
    assert cloud["offline_store"]["type"] == "bigquery"
