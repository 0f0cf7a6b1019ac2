"""Where the served model comes from: settings read from ``MLOPS_*`` variables.

Chapters 5-7 pass them as environment variables to the uvicorn process. The
settings are pydantic-settings models (``BaseSettings``): the prefix is their
``SettingsConfigDict(env_prefix=...)`` and pydantic-settings' environment
source reads and converts the variables, but only in :meth:`EnvSettings.from_env`.
Built directly (``Settings(model_path=...)``), they hold exactly what they are
given: a ``MLOPS_ENGINE`` left in the shell of a notebook's kernel does not
change the model a cell serves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from mlops_course.serving.schemas import ENV_PREFIX

logger = logging.getLogger("mlops_course.serving")

#: Shortest admin token accepted (``secrets.token_urlsafe()`` gives 43 characters).
MIN_TOKEN_CHARS = 16


# --------------------------------------------------------------------------- settings
class _VariablesSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping of variables.

    A variable that is empty or blank counts as unset, and names are read as
    written (upper case: ``MLOPS_MODEL_PATH``, not ``mlops_model_path``).
    """

    def __init__(
        self, settings_cls: type[BaseSettings], environ: Mapping[str, str]
    ) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # The source matches names case-insensitively (the config says so): it
        # looks up the lower-cased name, so the keys are lower-cased here.
        return {
            name.lower(): value
            for name, value in self._environ.items()
            if name == name.upper() and value.strip()
        }


class EnvSettings(BaseSettings):
    """Frozen settings that travel as ``<env_prefix><FIELD>`` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Built directly, settings hold what they are given: no variable, no file."""
        return (init_settings,)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The variable carrying ``field`` (``MLOPS_MODEL_PATH`` for ``model_path``)."""
        return f"{cls.model_config['env_prefix']}{field.upper()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Settings from their environment variables (an empty one is unset)."""
        env = os.environ if environ is None else environ
        return cls(**_VariablesSource(cls, env)())

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads back into these settings."""
        values = self.model_dump(exclude_none=True, exclude_defaults=True)
        return {
            self.env_name(k): (
                v.get_secret_value() if isinstance(v, SecretStr) else str(v)
            )
            for k, v in values.items()
        }


class Settings(EnvSettings):
    """Where the model comes from; :meth:`from_env` reads it from ``MLOPS_*`` variables.

    Give ``model_path`` (a joblib file), ``model_uri`` (an MLflow URI such as
    ``models:/credit-default@champion``, with ``tracking_uri``) or ``onnx_path``
    (an ONNX file, chapter 4). A model carries its decision threshold: a
    registry model in its metadata (``decision_threshold``), a file in the JSON
    beside it (``loading.save_model_metadata``). ``threshold`` is for a file that
    carries none; with neither, the model does not load (no silent 0.5).

    ``engine="onnx"`` (the default) refuses a pipeline that does not convert or
    disagrees with itself; ``"auto"`` opts into serving it with scikit-learn
    instead (logged as a warning, reported by ``/metadata``).

    Validation errors do not echo the input (it may hold ``admin_token``).
    """

    model_config = SettingsConfigDict(hide_input_in_errors=True)

    model_path: Path | None = None
    model_uri: str | None = None
    tracking_uri: str | None = None
    onnx_path: Path | None = None
    #: The folder model files must come from (``MLOPS_MODEL_ROOT``): loading a
    #: file runs code, so files outside it are refused (``serving.loading``).
    model_root: Path | None = None
    engine: Literal["onnx", "auto", "sklearn"] = "onnx"
    model_name: str = "credit-default"
    model_version: str | None = None
    training_data_hash: str | None = None
    threshold: float | None = Field(None, ge=0, le=1)  # only for a bare file
    # Chapter 9 (opt-in): a Feast repo adds the /predict/by-id routes (feast_lookup).
    feast_repo: Path | None = None
    feast_feature_service: str = "credit_v1"
    #: The decision time the TTL check uses; None: the wall clock (set it to replay).
    feast_as_of: datetime | None = None
    #: Opt-in Prometheus metrics on ``/metrics`` (chapter 13, ``serving.metrics``).
    metrics: bool = False
    allow_reload: bool = False  # POST /admin/reload (chapter 8), off by default
    #: The bearer token POST /admin/reload requires (``MLOPS_ADMIN_TOKEN``); a
    #: SecretStr, so repr, logs and errors show ``**********``, never the value.
    admin_token: SecretStr | None = None

    @model_validator(mode="after")
    def _reload_needs_a_token(self) -> Self:
        """Refuse reload without a token: an open admin route is a rollback button."""
        if self.allow_reload and not self._has_token():
            raise ValueError(
                f"{self.env_name('allow_reload')}=true needs "
                f"{self.env_name('admin_token')} (at least {MIN_TOKEN_CHARS} "
                "characters, e.g. from secrets.token_urlsafe()): an unauthenticated "
                "admin route is a rollback button for anyone who reaches the port"
            )
        return self

    def _has_token(self) -> bool:
        token = self.admin_token
        return token is not None and len(token.get_secret_value()) >= MIN_TOKEN_CHARS
