"""How a service process starts: one uvicorn command line for every app factory."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from uvicorn.importer import import_from_string

from mlops_course import serving
from mlops_course.serving import launch, multi_model, rollout_app

FACTORIES = [
    launch.APP_FACTORY,
    multi_model.UVICORN_FACTORY,
    rollout_app.UVICORN_FACTORY,
]


def test_uvicorn_command_binds_loopback_only():
    command = serving.uvicorn_command("--workers", "1", access_log=False)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert "--no-access-log" in command and command[-2:] == ["--workers", "1"]
    assert "mlops_course.serving:app_from_env" in command and "--factory" in command
    assert "--no-access-log" not in serving.uvicorn_command()


@pytest.mark.parametrize("factory", FACTORIES)
def test_every_factory_a_command_names_builds_an_app(factory, monkeypatch, tmp_path):
    command = serving.uvicorn_command(factory=factory)
    assert command[3:5] == [factory, "--factory"]
    build = import_from_string(factory)  # what uvicorn imports
    assert build.__module__.startswith("mlops_course.serving")
    # each reads its models from the environment; with none set, it says so
    for name in ("MLOPS_MODEL_PATH", "MLOPS_MODELS", rollout_app.CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_ONNX_PATH", str(tmp_path / "model.onnx"))
    if factory == rollout_app.UVICORN_FACTORY:
        with pytest.raises(RuntimeError, match=rollout_app.CONFIG_ENV):
            build()
    else:
        assert isinstance(build(), FastAPI)  # the model loads at start-up, not here
