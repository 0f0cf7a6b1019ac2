"""Checks for chapter 9's exercises (a Feast feature store)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pandas as pd

from mlops_course import data
from mlops_course.exercises import exercise, expect, expect_type

ACTIVITY_VIEW = "customer_activity"
DEFINED_TTL = timedelta(days=14)  # the chapter's definition of customer_activity
SHORT_TTL = timedelta(days=3)  # the exercise's TTL


def rows_kept_by_ttl(entity_df: pd.DataFrame, snapshots: pd.DataFrame, ttl) -> int:
    """Rows the file offline store returns for an activity feature with ``ttl``.

    A row is dropped when its customer has snapshots but none in the ``ttl``
    before the row's timestamp; a customer without snapshots keeps its row
    (with a null), as the chapter's probe showed.
    """
    ts = data.TIMESTAMP_COLUMN
    joined = pd.merge_asof(
        entity_df[["customer_id", ts]].sort_values(ts),
        snapshots[["customer_id", ts]].assign(snapshot=snapshots[ts]).sort_values(ts),
        on=ts,
        by="customer_id",
        tolerance=pd.Timedelta(ttl),
    )
    known = joined["customer_id"].isin(set(snapshots["customer_id"]))
    return int((joined["snapshot"].notna() | ~known).sum())


@exercise("ex-09-1")
def short_ttl(short, *, store, entity_df, snapshots) -> str:
    """The training set asked for with a 3-day TTL, and the TTL put back."""
    expect_type(short, pd.DataFrame, "the DataFrame get_historical_features returned")
    ttl = store.get_feature_view(ACTIVITY_VIEW).ttl
    expect(
        ttl == DEFINED_TTL,
        f"the registry still holds a TTL of {ttl} for {ACTIVITY_VIEW}: put it back "
        f"to {DEFINED_TTL.days} days and apply it, or every later query shrinks too",
    )
    want = rows_kept_by_ttl(entity_df, snapshots, SHORT_TTL)
    expect(
        len(short) != len(entity_df),
        f"all {len(entity_df)} entity rows came back: the query did not see the "
        "3-day TTL (apply the changed view before get_historical_features)",
    )
    expect(
        len(short) == want,
        f"{len(short)} rows came back, but with a 3-day TTL the file offline store "
        f"keeps {want} of {len(entity_df)}: ask for customer_activity's "
        "late_payments_90d for every row of entity_df",
    )
    return (
        "the 3-day TTL dropped every application with no snapshot in the 3 days "
        "before it, and the registry is back to 14 days"
    )


@exercise("ex-09-2")
def online_consistency(differs, *, store, test_rows) -> str:
    """Rows whose online credit_v1 features differ from the training set's."""
    expect_type(differs, Mapping, "a dict: feature name -> rows that differ")
    missing = sorted(set(data.FEATURES) - set(differs))
    expect(
        not missing,
        f"you did not compare {', '.join(missing)}: credit_v1 serves all "
        f"{len(data.FEATURES)} features",
    )
    sample = test_rows.iloc[:200]
    online = store.get_online_features(
        features=store.get_feature_service("credit_v1"),
        entity_rows=sample[["customer_id", "application_id"]].to_dict("records"),
    ).to_dict()
    differing = 0
    for name in data.FEATURES:
        served = pd.Series(online[name], index=sample.index)
        want = int((served != sample[name]).sum())
        differing += want
        expect(
            differs[name] == want,
            f"your check counts {differs[name]} differing rows for {name}, but the "
            f"online store serves {len(sample) - want} of 200 test applications the "
            "training set's value: read the rows in entity_rows' order and compare "
            "value by value",
        )
    expect(
        differing == 0,  # the chapter's data: no credit_v1 feature changes later
        "your counts match the store, but some credit_v1 features differ online: "
        "materialize again before checking",
    )
    return (
        "the online store serves every credit_v1 feature as the training set has "
        "it: profile and application features do not change after the application"
    )
