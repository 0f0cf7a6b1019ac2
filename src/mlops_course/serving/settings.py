"""Where the served model comes from: settings read from ``MLOPS_*`` variables.

Chapters 5-7 pass them as environment variables to the uvicorn process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_course.serving.schemas import ENV_PREFIX

logger = logging.getLogger("mlops_course.serving")


# --------------------------------------------------------------------------- settings
class Settings(BaseModel):
    """Where the model comes from; :meth:`from_env` reads it from ``MLOPS_*`` variables.

    Give ``model_path`` (a joblib file), ``model_uri`` (an MLflow URI such as
    ``models:/credit-default@champion``, with ``tracking_uri``) or ``onnx_path``
    (an ONNX file, chapter 4). ``threshold`` applies to file models only: a
    registry model carries its own in its metadata (``decision_threshold``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_path: Path | None = None
    model_uri: str | None = None
    tracking_uri: str | None = None
    onnx_path: Path | None = None
    engine: Literal["auto", "onnx", "sklearn"] = "auto"
    model_name: str = "credit-default"
    model_version: str | None = None
    training_data_hash: str | None = None
    threshold: float = Field(0.5, ge=0, le=1)
    allow_reload: bool = False  # POST /admin/reload (chapter 8), off by default

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``MLOPS_*`` environment variables (an empty one is unset)."""
        env = os.environ if environ is None else environ
        names = {name: f"{ENV_PREFIX}{name.upper()}" for name in cls.model_fields}
        values = {k: env[v] for k, v in names.items() if env.get(v, "").strip()}
        return cls.model_validate(values)

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads back into these settings."""
        values = self.model_dump(exclude_none=True, exclude_defaults=True)
        return {f"{ENV_PREFIX}{k.upper()}": str(v) for k, v in values.items()}
