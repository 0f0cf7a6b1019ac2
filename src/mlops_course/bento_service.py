"""The credit-default model as a BentoML service (chapter 15, the serving benchmark).

BentoML's own way to write a service: a class decorated with
``@bentoml.service`` loads the model once in ``__init__``; each method
decorated with ``@bentoml.api`` becomes an HTTP route whose body is built from
the method's typed parameters (a pydantic model here: the course's
``Application`` contract). ``/predict`` scores one application per call;
``/predict_batched`` is ``batchable``: BentoML's adaptive batching merges
concurrent calls into one list, up to ``max_batch_size`` rows, and waits at
most ``max_latency_ms``. Start it (offline, telemetry off)::

    BENTOML_DO_NOT_TRACK=true MLOPS_ONNX_PATH=model.onnx \\
        bentoml serve mlops_course.bento_service:CreditDefault --port 3000

The model is the ONNX file in ``MLOPS_ONNX_PATH``, scored by the same ONNX
Runtime engine as the course service, so a comparison measures the servers.
Its decision threshold travels with it, as in the course service: the JSON
beside the file (``serving.save_model_metadata``), else ``MLOPS_THRESHOLD``;
with neither the service refuses to start.
"""

import os
from pathlib import Path

import bentoml
from pydantic import BaseModel, Field

from mlops_course.serving.engines import OnnxEngine
from mlops_course.serving.loading import file_threshold
from mlops_course.serving.schemas import Application, columns_of


class Answer(BaseModel):
    """P(default) and the decision for one application."""

    probability_of_default: float = Field(ge=0, le=1)
    decision: str


# One worker, like the course service; no access log (the course service runs
# without one too: a log line per request costs as much as the model).
@bentoml.service(
    workers=1, traffic={"timeout": 30}, logging={"access": {"enabled": False}}
)
class CreditDefault:
    """P(default) for loan applications, from an ONNX model."""

    def __init__(self) -> None:
        path = Path(os.environ["MLOPS_ONNX_PATH"])
        self.engine = OnnxEngine(path.read_bytes())
        setting = os.environ.get("MLOPS_THRESHOLD")
        self.threshold, _ = file_threshold(
            path, None if setting is None else float(setting)
        )

    def _answer(self, p: float) -> Answer:
        decision = "reject" if p >= self.threshold else "approve"
        return Answer(probability_of_default=p, decision=decision)

    @bentoml.api
    def predict(self, application: Application) -> Answer:
        """Score one application."""
        return self._answer(
            float(self.engine.predict_proba(columns_of([application]))[0])
        )

    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=1_000)
    def predict_batched(self, applications: list[Application]) -> list[Answer]:
        """Score applications; BentoML merges concurrent calls into one batch."""
        proba = self.engine.predict_proba(columns_of(applications))
        return [self._answer(float(p)) for p in proba]
