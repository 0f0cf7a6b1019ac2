"""The service loads models only from its configured registry or model folder.

Loading a model runs code (``serving.loading``'s docstring says where the course
loads pickles), so a source outside ``MLOPS_MODEL_ROOT`` or the registry is
refused before it is read, with an error that names the setting to change.
"""

from __future__ import annotations

import joblib
import pytest

from mlops_course import serving
from mlops_course.data import FEATURES
from mlops_course.serving import to_records
from mlops_course.serving.loading import check_source, load_model
from tests.serving_helpers import client_for


class Exploding:
    """Unpickling this object would run ``boom``: the refusal must come first."""

    def __reduce__(self):
        return (_boom, ())


def _boom():
    raise AssertionError("the refused file was unpickled")


@pytest.fixture(scope="module")
def trained(trained_logreg, tmp_path_factory):
    pipeline, _, test = trained_logreg(600, seed=3)
    path = tmp_path_factory.mktemp("models") / "model.joblib"
    joblib.dump(pipeline, path)
    return pipeline, path, test.iloc[:1]


@pytest.mark.anyio
async def test_a_file_inside_the_model_root_loads_and_scores(trained):
    pipeline, path, row = trained
    settings = serving.Settings(model_path=path, model_root=path.parent, threshold=0.2)
    assert load_model(settings).source == "file:model.joblib"
    async with client_for(settings) as client:
        assert (await client.get("/ready")).status_code == 200
        answer = (await client.post("/predict", json=to_records(row)[0])).json()
    want = pipeline.predict_proba(row[FEATURES])[0, 1]
    assert answer["probability_of_default"] == pytest.approx(want, abs=1e-5)


def test_a_file_outside_the_model_root_is_refused_before_it_is_read(tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    outside = tmp_path / "elsewhere" / "model.joblib"
    outside.parent.mkdir()
    joblib.dump(Exploding(), outside)  # would raise if it were unpickled
    settings = serving.Settings(model_path=outside, model_root=root)
    with pytest.raises(serving.ModelLoadError) as refused:
        load_model(settings)
    message = str(refused.value)
    assert "model.joblib is outside the model folder MLOPS_MODEL_ROOT" in message
    assert str(tmp_path) not in message  # the answer names no machine path


@pytest.mark.anyio
async def test_the_service_stays_up_and_says_why_on_ready(tmp_path):
    outside = tmp_path / "model.joblib"
    joblib.dump(Exploding(), outside)
    settings = serving.Settings(model_path=outside, model_root=tmp_path / "models")
    async with client_for(settings) as client:
        answer = await client.get("/ready")
    assert answer.status_code == 503
    assert "outside the model folder MLOPS_MODEL_ROOT" in answer.json()["detail"]


def test_dot_dot_and_symbolic_links_do_not_leave_the_root(tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    outside = tmp_path / "evil.joblib"
    joblib.dump(Exploding(), outside)
    (root / "link.joblib").symlink_to(outside)
    for path in [root / ".." / "evil.joblib", root / "link.joblib"]:
        with pytest.raises(serving.ModelLoadError, match="outside the model folder"):
            load_model(serving.Settings(model_path=path, model_root=root))
    onnx = serving.Settings(onnx_path=root / ".." / "evil.joblib", model_root=root)
    with pytest.raises(serving.ModelLoadError, match="outside the model folder"):
        load_model(onnx)


@pytest.mark.parametrize(
    "uri",
    [
        "/srv/somewhere/model",
        "file:///srv/somewhere/model",
        "s3://bucket/model",
        "https://example.org/model.tar.gz",
        "mlflow-artifacts:/1/abc/artifacts/model",
    ],
)
def test_a_model_uri_outside_the_registry_is_refused(uri):
    with pytest.raises(serving.ModelLoadError, match="must name the configured regis"):
        load_model(serving.Settings(model_uri=uri))


@pytest.mark.parametrize(
    "uri", ["models:/credit-default@champion", "models:/credit-default/3", "runs:/a/m"]
)
def test_registry_and_run_uris_pass_the_check(uri):
    assert check_source(serving.Settings(model_uri=uri)) is None


def test_the_root_is_read_from_the_environment(tmp_path):
    settings = serving.Settings.from_env({"MLOPS_MODEL_ROOT": str(tmp_path)})
    assert settings.model_root == tmp_path
    assert settings.to_env() == {"MLOPS_MODEL_ROOT": str(tmp_path)}
