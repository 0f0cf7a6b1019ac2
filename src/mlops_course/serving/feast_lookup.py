"""Score by id: the service looks the features up in Feast's online store (chapter 9).

Opt-in: with ``Settings(feast_repo=...)`` (``MLOPS_FEAST_REPO``) :func:`create_app`
calls :func:`install_feast`, which opens the Feast repo once and adds

- ``POST /predict/by-id`` with ``{"customer_id": ..., "application_id": ...}``;
- ``POST /predict/by-id/batch`` with ``{"rows": [{...}, ...]}``.

The request carries ids only; the 13 model features come from the feature
service ``feast_feature_service`` (``get_online_features``), so training
(``get_historical_features`` over the same service) and serving read one
definition. Malformed ids are a 422 naming the field, ids the online store does
not know are a 404 naming them, a repo that cannot be opened a 503 with the
reason. Without ``feast_repo`` nothing changes and Feast is not even imported.

Feast's ``get_online_features`` does not enforce a feature view's TTL (0.6x;
feast-dev/feast#6821): a value the offline store would drop as too old comes
back from the online store as present. The lookup therefore reads each value's
event timestamp (``to_dict(include_event_timestamps=True)``) and refuses values
older than their view's TTL at the decision time with a 409 naming the view,
the id and the age. The decision time is the wall clock, or
``Settings.feast_as_of`` when a replay of past data pins it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from mlops_course.data import FEATURES
from mlops_course.serving.app import ReadyModel, content_type
from mlops_course.serving.schemas import (
    ERRORS,
    JSON,
    BatchPrediction,
    Prediction,
)
from mlops_course.serving.settings import Settings

#: Largest batch ``/predict/by-id/batch`` accepts; past it the answer is a 422.
MAX_LOOKUP_ROWS = 1_000
#: At most this many unknown ids (or stale values) are named in a 404 (or 409).
MAX_UNKNOWN_SHOWN = 20
#: Suffix of the event-timestamp columns of ``to_dict(include_event_timestamps=True)``.
TIMESTAMP_SUFFIX = "__ts"


class EntityIds(BaseModel):
    """The ids of one application to score: its customer and the application."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: str = Field(pattern=r"^C\d{7}$", examples=["C0000859"])
    application_id: str = Field(pattern=r"^A\d{8}$", examples=["A00000021"])


class ByIdBatch(BaseModel):
    """Up to :data:`MAX_LOOKUP_ROWS` applications, by id."""

    model_config = ConfigDict(extra="forbid", strict=True)

    rows: list[EntityIds] = Field(min_length=1, max_length=MAX_LOOKUP_ROWS)


class FeastPrediction(Prediction):
    """The answer for one application, with the features Feast returned for it."""

    features: dict[str, float | int | str | None]


class UnknownEntityError(LookupError):
    """Some ids have no features in the online store."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(", ".join(unknown))
        self.unknown = unknown


class StaleFeatureError(LookupError):
    """Some values in the online store are older than their feature view's TTL."""

    def __init__(self, stale: list[str]) -> None:
        super().__init__("; ".join(stale))
        self.stale = stale


def stale_values(
    found: dict[str, list[Any]],
    rows: list[dict[str, str]],
    views: dict[str, tuple[str, list[str], timedelta | None]],
    as_of: datetime,
) -> list[str]:
    """Which rows of ``found`` hold a view's values older than its TTL at ``as_of``.

    ``found`` is ``get_online_features(...).to_dict(include_event_timestamps=True)``;
    ``views`` maps a view name to its join key, feature names and TTL (``None`` or
    zero: no limit). Absent values (timestamp 0) are not stale, they are unknown.
    Returns one line per stale (view, row): view, id, age and TTL.
    """
    stale = []
    for view, (key, names, ttl) in views.items():
        if not ttl:
            continue
        for i, row in enumerate(rows):
            seconds = max(found[name + TIMESTAMP_SUFFIX][i] for name in names)
            if not seconds:
                continue
            age = as_of - datetime.fromtimestamp(seconds, UTC)
            if age > ttl:
                stale.append(
                    f"{view} for {key}={row[key]} is {age.days} days old "
                    f"(TTL {ttl.days} days)"
                )
    return stale


class FeatureLookup:
    """The feature service of a Feast repo, read row by row from its online store.

    Values older than their view's TTL at the decision time (``as_of``, or the
    wall clock when it is ``None``) raise :class:`StaleFeatureError`.
    """

    def __init__(
        self,
        repo_path: str | Path,
        feature_service: str,
        as_of: datetime | None = None,
    ) -> None:
        from feast import FeatureStore  # imported only by services that use Feast

        self.store = FeatureStore(repo_path=str(repo_path))
        self.service = self.store.get_feature_service(feature_service)
        self.as_of = as_of
        #: Feature names by the join key that finds them ("customer_id": [...]).
        self.by_key: dict[str, list[str]] = {}
        #: Per feature view: its join key, the features read from it, its TTL.
        self.views: dict[str, tuple[str, list[str], timedelta | None]] = {}
        for projection in self.service.feature_view_projections:
            view = self.store.get_feature_view(projection.name)
            names = [f.name for f in projection.features]
            for key in view.join_keys:
                self.by_key.setdefault(key, []).extend(names)
            self.views[view.name] = (view.join_keys[0], names, view.ttl)
        served = {n for names in self.by_key.values() for n in names}
        missing = [n for n in FEATURES if n not in served]
        if missing:
            raise ValueError(
                f"feature service {feature_service!r} lacks model features {missing}"
            )
        # The SQLite online store shares one connection between threads: one read
        # at a time (each takes well under a millisecond).
        self._lock = threading.Lock()

    def features(self, rows: list[dict[str, str]]) -> dict[str, list[Any]]:
        """Feature columns for ``rows`` of ids.

        Unknown ids raise :class:`UnknownEntityError`; values older than their
        view's TTL raise :class:`StaleFeatureError`.
        """
        with self._lock:
            found = self.store.get_online_features(
                features=self.service, entity_rows=rows
            ).to_dict(include_event_timestamps=True)
        unknown = []
        for key, names in self.by_key.items():
            for i, row in enumerate(rows):
                if all(found[name][i] is None for name in names):
                    unknown.append(f"{key}={row[key]}")
        if unknown:
            raise UnknownEntityError(sorted(set(unknown)))
        as_of = self.as_of or datetime.now(UTC)
        stale = stale_values(found, rows, self.views, as_of)
        if stale:
            raise StaleFeatureError(stale)
        return {name: found[name] for name in FEATURES}


def feature_lookup(request: Request) -> FeatureLookup:
    """Dependency: the Feast lookup, or a 503 with the reason it is not there."""
    lookup = request.app.state.feast
    if lookup is None:
        raise HTTPException(
            503, f"feature store not available: {request.app.state.feast_error}"
        )
    return lookup


Lookup = Annotated[FeatureLookup, Depends(feature_lookup)]

RESPONSES = {
    **ERRORS,
    404: {"model": ERRORS[422]["model"], "description": "Unknown ids."},
    409: {
        "model": ERRORS[422]["model"],
        "description": "Features older than their feature view's TTL.",
    },
}


def _columns(lookup: FeatureLookup, rows: list[EntityIds]) -> dict[str, list[Any]]:
    try:
        return lookup.features([row.model_dump() for row in rows])
    except UnknownEntityError as exc:
        shown = exc.unknown[:MAX_UNKNOWN_SHOWN]
        more = len(exc.unknown) - len(shown)
        tail = f" and {more} more" if more > 0 else ""
        raise HTTPException(
            404, f"no features in the online store for {', '.join(shown)}{tail}"
        ) from None
    except StaleFeatureError as exc:
        shown = exc.stale[:MAX_UNKNOWN_SHOWN]
        more = len(exc.stale) - len(shown)
        tail = f" and {more} more" if more > 0 else ""
        raise HTTPException(
            409, f"features older than their TTL: {'; '.join(shown)}{tail}"
        ) from None


def install_feast(app: FastAPI, settings: Settings) -> None:
    """Open ``settings.feast_repo`` and add the ``/predict/by-id`` routes to ``app``."""
    if settings.feast_repo is None:
        return
    try:
        app.state.feast = FeatureLookup(
            settings.feast_repo,
            settings.feast_feature_service,
            as_of=settings.feast_as_of,
        )
        app.state.feast_error = None
    except Exception as exc:  # any reason the repo cannot serve: a 503 says it
        app.state.feast = None
        app.state.feast_error = f"{type(exc).__name__}: {exc}"

    @app.post(
        "/predict/by-id",
        response_model=FeastPrediction,
        responses=RESPONSES,
        dependencies=[content_type(JSON)],
    )
    def predict_by_id(
        ids: EntityIds, model: ReadyModel, lookup: Lookup
    ) -> FeastPrediction:
        """Score one application by id; its features come from Feast's online store."""
        columns = _columns(lookup, [ids])
        p = float(model.engine.predict_proba(columns)[0])
        return FeastPrediction(
            probability_of_default=p,
            decision="reject" if p >= model.threshold else "approve",
            threshold=model.threshold,
            model_version=model.version,
            features={name: values[0] for name, values in columns.items()},
        )

    @app.post(
        "/predict/by-id/batch",
        response_model=BatchPrediction,
        responses=RESPONSES,
        dependencies=[content_type(JSON)],
    )
    def predict_by_id_batch(
        batch: ByIdBatch, model: ReadyModel, lookup: Lookup
    ) -> BatchPrediction:
        """Score up to 1,000 applications by id (one online lookup for all of them)."""
        return BatchPrediction.scored(
            model.engine.predict_proba(_columns(lookup, batch.rows)),
            threshold=model.threshold,
            model_version=model.version,
        )
