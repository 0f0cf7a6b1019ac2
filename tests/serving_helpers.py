"""Helpers the service's test files share: an in-process client, a registered model."""

from __future__ import annotations

import contextlib

import httpx

from mlops_course import serving
from mlops_course.serving import Settings
from mlops_course.tracking import data_fingerprint


@contextlib.asynccontextmanager
async def client_for(settings: Settings, *, raise_app_exceptions: bool = True):
    """An in-process client whose app has gone through its lifespan start-up."""
    app = serving.create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=raise_app_exceptions
        )
        async with httpx.AsyncClient(
            transport=transport, base_url="http://service"
        ) as client:
            yield client


def log_version(pipeline, data, *, threshold: float | None) -> str:
    """Log ``pipeline`` the way the capstone does and register it; its version."""
    import mlflow
    from mlflow.models import infer_signature

    from mlops_course.serialization import as_model_input

    example = as_model_input(data[1].iloc[:5])
    metadata = None if threshold is None else {"decision_threshold": threshold}
    with mlflow.start_run():
        mlflow.log_param("training_data_hash", data_fingerprint(data[0]))
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            registered_model_name="credit-default",
            pyfunc_predict_fn="predict_proba",
            signature=infer_signature(example, pipeline.predict_proba(example)),
            metadata=metadata,
            # skops (MLflow's default format) refuses the encoder's dtype unless trusted
            skops_trusted_types=["numpy.dtype"],
        )
    return str(info.registered_model_version)


def two_onnx_models(folder, train) -> dict:
    """Two logistic regressions of ``train`` (C=0.01 "small", C=10 "large") as ONNX
    files in ``folder``, each with a 0.2 decision threshold beside it."""
    from mlops_course.modeling import features_and_target, make_model
    from mlops_course.serialization import to_onnx

    X, y = features_and_target(train)
    paths = {}
    for name, c in (("small", 0.01), ("large", 10.0)):
        pipeline = make_model("logreg", seed=0, C=c).fit(X, y)
        paths[name] = folder / f"{name}.onnx"
        paths[name].write_bytes(to_onnx(pipeline, X))
        serving.save_model_metadata(paths[name], {"decision_threshold": 0.2})
    return paths
