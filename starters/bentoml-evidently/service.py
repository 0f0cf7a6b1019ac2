"""The credit-default model as a BentoML service.

    bentoml serve            # reads bentofile.yaml: service.py:CreditDefault

`POST /predict` takes {"applications": [...]}, each one validated by the
course's request schema (an out-of-range or missing field answers 400 with
the field at fault), and answers P(default) and the decision per application.
The model is the newest `credit_default` in BentoML's model store (train.py).
"""

import bentoml
import joblib
import pandas as pd
from pydantic import BaseModel, Field

from mlops_course.data import FEATURES
from mlops_course.serving.schemas import Application


class Answer(BaseModel):
    """P(default) and the decision for one application."""

    probability_of_default: float = Field(ge=0, le=1)
    decision: str


@bentoml.service(workers=1, traffic={"timeout": 30})
class CreditDefault:
    model_ref = bentoml.models.BentoModel("credit_default:latest")

    def __init__(self) -> None:
        self.model = joblib.load(self.model_ref.path_of("model.joblib"))  # our file
        self.threshold = float(self.model_ref.info.metadata["threshold"])

    @bentoml.api
    def predict(self, applications: list[Application]) -> list[Answer]:
        """Score a batch of applications."""
        rows = pd.DataFrame([a.model_dump() for a in applications], columns=FEATURES)
        proba = self.model.predict_proba(rows)[:, 1]
        return [
            Answer(
                probability_of_default=float(p),
                decision="reject" if p >= self.threshold else "approve",
            )
            for p in proba
        ]
