"""Chapter 7's champion: logged so that its pyfunc predictions are probabilities.

The capstone logs the pipeline's model with ``pyfunc_predict_fn="predict_proba"``
and its decision threshold in the model's metadata, and registers it with the
client API. These tests log the same way into a real MLflow store (SQLite,
in-process) and read the registered version back as a consumer would.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from mlops_course.modeling import features_and_target
from mlops_course.serialization import as_model_input
from mlops_course.tracking import SKOPS_TRUSTED_TYPES, pinned_requirements

# MLflow's own SQLAlchemy store code uses a loader option SQLAlchemy 2.1 deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy:sqlalchemy.exc.SADeprecationWarning"
)


@pytest.fixture(scope="module")
def fitted(trained_logreg):
    pipeline, frame, _ = trained_logreg(800, seed=5, split=False)
    x, _ = features_and_target(frame)
    return pipeline, as_model_input(x.head(20))


@pytest.fixture
def store(tmp_path):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment(
        "capstone-test", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    yield experiment
    mlflow.set_tracking_uri(previous)


def log_and_register(model, example, experiment, name, **log_kwargs) -> str:
    """Log like chapter 7, register with the client API; return the version's URI."""
    with mlflow.start_run(experiment_id=experiment) as run:
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=example,
            pip_requirements=pinned_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            **log_kwargs,
        )
    client = MlflowClient()
    client.create_registered_model(name)
    version = client.create_model_version(
        name, source=logged.model_uri, run_id=run.info.run_id, model_id=logged.model_id
    )
    return f"models:/{name}/{version.version}"


def test_registered_champion_predicts_probabilities_and_carries_its_threshold(
    fitted, store
):
    model, example = fitted
    signature = mlflow.models.infer_signature(example, model.predict_proba(example))
    uri = log_and_register(
        model,
        example,
        store,
        "credit-default",
        pyfunc_predict_fn="predict_proba",
        signature=signature,
        metadata={"decision_threshold": 0.22},
    )
    predicted = np.asarray(mlflow.pyfunc.load_model(uri).predict(example))
    assert predicted.shape == (len(example), 2)
    assert ((predicted >= 0) & (predicted <= 1)).all()
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0)
    np.testing.assert_allclose(predicted, model.predict_proba(example), atol=1e-9)
    assert len(np.unique(predicted[:, 1])) > 2  # not labels in disguise
    info = mlflow.models.get_model_info(uri)
    assert info.metadata == {"decision_threshold": 0.22}
    outputs = info.signature.outputs.to_dict()
    assert tuple(outputs[0]["tensor-spec"]["shape"]) == (-1, 2)  # two probabilities


def test_default_predict_fn_returns_labels(fitted, store):
    """The defect chapter 7 fixes: without pyfunc_predict_fn, pyfunc gives 0/1."""
    model, example = fitted
    labels = model.predict(example).astype(float)  # float: no integer-column hint
    signature = mlflow.models.infer_signature(example, labels)
    uri = log_and_register(model, example, store, "labels-only", signature=signature)
    predicted = np.asarray(mlflow.pyfunc.load_model(uri).predict(example))
    assert predicted.ndim == 1
    assert set(np.unique(predicted)) <= {0, 1}
