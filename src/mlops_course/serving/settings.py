"""Where the served model comes from: settings read from ``MLOPS_*`` variables.

Chapters 5-7 pass them as environment variables to the uvicorn process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from mlops_course.serving.schemas import ENV_PREFIX

logger = logging.getLogger("mlops_course.serving")


# --------------------------------------------------------------------------- settings
class EnvSettings(BaseModel):
    """Frozen settings that travel as ``<env_prefix><FIELD>`` environment variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    env_prefix: ClassVar[str] = ENV_PREFIX

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Settings from their environment variables (an empty one is unset)."""
        env = os.environ if environ is None else environ
        names = {name: f"{cls.env_prefix}{name.upper()}" for name in cls.model_fields}
        values = {k: env[v] for k, v in names.items() if env.get(v, "").strip()}
        return cls.model_validate(values)

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads back into these settings."""
        values = self.model_dump(exclude_none=True, exclude_defaults=True)
        return {f"{self.env_prefix}{k.upper()}": str(v) for k, v in values.items()}


class Settings(EnvSettings):
    """Where the model comes from; :meth:`from_env` reads it from ``MLOPS_*`` variables.

    Give ``model_path`` (a joblib file), ``model_uri`` (an MLflow URI such as
    ``models:/credit-default@champion``, with ``tracking_uri``) or ``onnx_path``
    (an ONNX file, chapter 4). ``threshold`` applies to file models only: a
    registry model carries its own in its metadata (``decision_threshold``).
    """

    model_path: Path | None = None
    model_uri: str | None = None
    tracking_uri: str | None = None
    onnx_path: Path | None = None
    #: The folder model files must come from (``MLOPS_MODEL_ROOT``): loading a
    #: file runs code, so files outside it are refused (``serving.loading``).
    model_root: Path | None = None
    engine: Literal["auto", "onnx", "sklearn"] = "auto"
    model_name: str = "credit-default"
    model_version: str | None = None
    training_data_hash: str | None = None
    threshold: float = Field(0.5, ge=0, le=1)
    # Chapter 9 (opt-in): a Feast repo adds the /predict/by-id routes (feast_lookup).
    feast_repo: Path | None = None
    feast_feature_service: str = "credit_v1"
    #: Opt-in Prometheus metrics on ``/metrics`` (chapter 13, ``serving.metrics``).
    metrics: bool = False
    allow_reload: bool = False  # POST /admin/reload (chapter 8), off by default
