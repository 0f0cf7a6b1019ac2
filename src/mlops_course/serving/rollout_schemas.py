"""The rollout service's contract: who applies, and which variant answered.

Chapter 5's request models (``serving.schemas``) with the customer id the
sticky assignment keys on (header ``X-Customer-Id``, or ``customer_ids`` beside
a batch), and answers that name the variant ``assigned`` and the one it was
``served_by``. ``serving.rollout_app`` serves them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_course.serving.assignment import Variant
from mlops_course.serving.schemas import MAX_BATCH_ROWS, Application, Prediction

#: A customer id: letters, digits, ``_-.:``, 1 to 64 characters.
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

CustomerId = Annotated[
    str,
    Header(
        alias="X-Customer-Id",
        pattern=CUSTOMER_ID_PATTERN,
        description="Who applies: the key of the sticky assignment.",
    ),
]


class RolloutPrediction(Prediction):
    """The service's answer: the variant assigned, and the one that answered.

    They differ when the assigned challenger failed or overran and the primary
    answered instead. An experiment is analysed by ``assigned`` (intention to
    treat); ``served_by`` says what the customer actually got.
    """

    assigned: Variant
    served_by: Variant


class RolloutBatchRequest(BaseModel):
    """Applications with the customer each comes from (same order, same length)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    applications: list[Application] = Field(min_length=1, max_length=MAX_BATCH_ROWS)
    customer_ids: list[Annotated[str, Field(pattern=CUSTOMER_ID_PATTERN)]]

    @model_validator(mode="after")
    def _same_length(self) -> RolloutBatchRequest:
        if len(self.customer_ids) != len(self.applications):
            raise ValueError(
                f"{len(self.customer_ids)} customer_ids for "
                f"{len(self.applications)} applications"
            )
        return self


class RolloutBatchPrediction(BaseModel):
    """Answers for a batch, row by row: probability, decision, variants, version."""

    probability_of_default: list[Annotated[float, Field(ge=0, le=1)]]
    decision: list[Literal["approve", "reject"]]
    assigned: list[Variant]
    served_by: list[Variant]
    model_version: list[str]
    n_rows: int


class VariantCounts(BaseModel):
    """Rows answered by each variant, and challenger calls the primary replaced."""

    primary: int
    challenger: int
    challenger_failures: int


class RolloutStatus(BaseModel):
    """What ``/rollout`` reports: mode, share, canary state, shadow counters."""

    mode: str
    salt: str
    challenger_share: float
    served: VariantCounts
    canary_state: str | None = None
    canary_window: dict[str, float] | None = None
    canary_history: list[str] = []
    shadow: dict[str, int] = {}


__all__ = [
    "CUSTOMER_ID_PATTERN",
    "CustomerId",
    "RolloutBatchPrediction",
    "RolloutBatchRequest",
    "RolloutPrediction",
    "RolloutStatus",
    "VariantCounts",
]
