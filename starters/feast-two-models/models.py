"""Two models, one feature store: training sets from Feast, scores at serving time.

    python models.py          # sources, `feast apply`, train both, materialize

`credit_decision` scores a loan application (entity: application and its
customer); `early_warning` scores a customer from their profile and recent
payments. Both read the views defined once in feature_repo/features.py: the
training sets come from `get_historical_features` (point in time), the
serving features from `get_online_features`, through the same FeatureService.
"""

from pathlib import Path

import pandas as pd
from feast import FeatureStore
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_course.data import TARGET, TIMESTAMP_COLUMN, generate_applications
from mlops_course.features import write_sources

REPO = Path("feature_repo")
SERVICES = {
    "credit_decision": ["application_id", "customer_id"],
    "early_warning": ["customer_id"],
}


def write_data(repo: Path = REPO, n_rows: int = 3_000) -> pd.DataFrame:
    """The three parquet sources, and the labelled events to train on."""
    applications = generate_applications(n_rows, seed=42)
    write_sources(applications, repo / "data", seed=0)
    return applications[["application_id", "customer_id", TIMESTAMP_COLUMN, TARGET]]


def feature_names(store: FeatureStore, service: str) -> list[str]:
    return [
        f.name
        for projection in store.get_feature_service(service).feature_view_projections
        for f in projection.features
    ]


def pipeline(frame: pd.DataFrame):
    categorical = [c for c in frame.columns if frame[c].dtype == object]
    numeric = [c for c in frame.columns if c not in categorical]
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    return make_pipeline(prep, LogisticRegression(max_iter=1_000))


def train(store: FeatureStore, events: pd.DataFrame) -> dict:
    """Both models, each fitted on its service's point-in-time training set."""
    models = {}
    for service, keys in SERVICES.items():
        entity_df = events[[*keys, TIMESTAMP_COLUMN, TARGET]]
        training = store.get_historical_features(
            entity_df=entity_df, features=store.get_feature_service(service)
        ).to_df()
        columns = feature_names(store, service)
        training = training.dropna(subset=columns)  # rows outside a view's TTL
        models[service] = pipeline(training[columns]).fit(
            training[columns], training[TARGET]
        )
    return models


def score(store: FeatureStore, models: dict, rows: list[dict]) -> dict:
    """P(default) from each model, with the features read from the online store."""
    scores = {}
    for service, keys in SERVICES.items():
        entity_rows = [{k: row[k] for k in keys} for row in rows]
        online = store.get_online_features(
            features=store.get_feature_service(service), entity_rows=entity_rows
        ).to_df()
        columns = feature_names(store, service)
        scores[service] = models[service].predict_proba(online[columns])[:, 1].tolist()
    return scores
