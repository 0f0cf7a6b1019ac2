"""The serving settings are pydantic-settings models read from ``MLOPS_*`` variables.

Round trips, blank values and the reload token are tested with the routes that
use them (tests/test_serving.py, test_serving_reload.py, test_batching.py); here
is what pydantic-settings itself must do for the course.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from mlops_course.serving.batching import BatchSettings
from mlops_course.serving.settings import EnvSettings, Settings


def test_settings_are_pydantic_settings_with_the_course_prefixes():
    assert issubclass(Settings, BaseSettings) and issubclass(BatchSettings, EnvSettings)
    assert Settings.model_config["env_prefix"] == "MLOPS_"
    assert BatchSettings.model_config["env_prefix"] == "MLOPS_BATCH_"
    assert Settings.env_name("model_path") == "MLOPS_MODEL_PATH"
    assert BatchSettings.env_name("max_wait_ms") == "MLOPS_BATCH_MAX_WAIT_MS"


def test_only_from_env_reads_the_environment(monkeypatch):
    """A variable left in a kernel's environment does not change explicit settings."""
    monkeypatch.setenv("MLOPS_ENGINE", "sklearn")
    monkeypatch.setenv("MLOPS_BATCH_MAX_BATCH_SIZE", "4")
    assert Settings().engine == "onnx" and BatchSettings().max_batch_size == 32
    assert Settings.from_env().engine == "sklearn"
    assert BatchSettings.from_env().max_batch_size == 4
    assert Settings.from_env({}).engine == "onnx"  # a given mapping, and only it


def test_variables_are_converted_and_others_ignored():
    env = {
        "MLOPS_METRICS": "true",
        "MLOPS_THRESHOLD": "0.25",
        "MLOPS_FEAST_AS_OF": "2026-01-31T12:00:00",
        "MLOPS_COURSE_WORKSPACE": "/tmp/x",  # the prefix, but no such setting
        "MLOPS_BATCH_ENABLED": "false",  # BatchSettings', not Settings'
        "mlops_engine": "sklearn",  # names are upper case, as documented
        "MLOPS_MODEL_URI": "",
    }
    settings = Settings.from_env(env)
    assert settings.metrics is True and settings.threshold == 0.25
    assert settings.feast_as_of.isoformat() == "2026-01-31T12:00:00"
    assert settings.engine == "onnx" and settings.model_uri is None
    assert BatchSettings.from_env(env).enabled is False


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MLOPS_METRICS": "maybe"}, "metrics"),
        ({"MLOPS_THRESHOLD": "high"}, "threshold"),
        ({"MLOPS_ENGINE": "gpu"}, "engine"),
        ({"MLOPS_BATCH_MAX_BATCH_SIZE": "0"}, "max_batch_size"),
    ],
)
def test_a_bad_value_names_its_setting_and_hides_the_input(env, field):
    cls = BatchSettings if "BATCH" in next(iter(env)) else Settings
    with pytest.raises(ValidationError) as refused:
        cls.from_env(env)
    (error,) = refused.value.errors()
    assert error["loc"] == (field,)
    if cls is Settings:  # it may hold the admin token: never echoed
        assert next(iter(env.values())) not in str(refused.value)
