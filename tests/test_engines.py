"""The ONNX engine's guards against training/serving skew, each made to fire.

A conversion can be wrong without any error: here a pipeline holds a step that
skl2onnx learns through a registered converter, the way a team teaches it a
custom transformer. One converter is right; the others forget the step or get
it slightly wrong, and ONNX Runtime then serves different probabilities from
the ones scikit-learn validated. The engine must refuse those. A graph whose
inputs do not carry the feature names must be refused too.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from onnx import TensorProto
from skl2onnx import update_registered_converter
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mlops_course.data import FEATURES, TARGET, generate_applications
from mlops_course.modeling import make_model, make_preprocessor
from mlops_course.serialization import as_model_input, to_onnx
from mlops_course.serving.engines import (
    ModelLoadError,
    OnnxEngine,
    SklearnEngine,
    make_engine,
    parity_sample,
)
from mlops_course.serving.schemas import PARITY_TOLERANCE

FACTOR = 0.5


class Halve(TransformerMixin, BaseEstimator):
    """Multiplies the preprocessed features by FACTOR (converted correctly)."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float) * FACTOR


class HalveForgotten(Halve):
    """The same step; its converter forgets to multiply (emits Identity)."""


class HalveAlmost(Halve):
    """The same step; its converter multiplies by FACTOR x 1.001 (a 0.1% skew)."""


def _same_shape(operator) -> None:
    operator.outputs[0].type = operator.inputs[0].type


def _multiplier(factor: float):
    def convert(scope, operator, container) -> None:
        constant = scope.get_unique_variable_name("factor")
        container.add_initializer(constant, TensorProto.FLOAT, [], [factor])
        container.add_node(
            "Mul",
            [operator.inputs[0].full_name, constant],
            [operator.outputs[0].full_name],
            name=scope.get_unique_operator_name("Halve"),
        )

    return convert


def _identity(scope, operator, container) -> None:
    container.add_node(
        "Identity",
        [operator.inputs[0].full_name],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Halve"),
    )


update_registered_converter(Halve, "TestHalve", _same_shape, _multiplier(FACTOR))
update_registered_converter(
    HalveForgotten, "TestHalveForgotten", _same_shape, _identity
)
update_registered_converter(
    HalveAlmost, "TestHalveAlmost", _same_shape, _multiplier(FACTOR * 1.001)
)


@pytest.fixture(scope="module")
def training():
    frame = generate_applications(2_000, seed=3)
    return as_model_input(frame), frame[TARGET]


def fitted(step: Halve, training) -> Pipeline:
    X, y = training
    pipeline = Pipeline(
        [
            ("prep", make_preprocessor()),
            ("step", step),
            ("model", LogisticRegression(max_iter=1_000)),
        ]
    )
    return pipeline.fit(X, y)


def test_a_faithful_conversion_is_accepted(training):
    pipeline = fitted(Halve(), training)
    sample = parity_sample()
    engine = OnnxEngine.from_pipeline(pipeline, sample)
    gap = np.abs(engine.predict_proba(sample) - pipeline.predict_proba(sample)[:, 1])
    assert gap.max() <= PARITY_TOLERANCE
    assert make_engine(pipeline, "onnx").name == "onnx"


@pytest.mark.parametrize(
    "step", [HalveForgotten(), HalveAlmost()], ids=lambda s: type(s).__name__
)
def test_a_conversion_that_changes_the_scores_is_refused(step, training):
    pipeline = fitted(step, training)
    sample = parity_sample()
    # The skew is real: the converted graph runs and scores differently.
    onnx_scores = OnnxEngine(to_onnx(pipeline, sample)).predict_proba(sample)
    gap = np.max(np.abs(onnx_scores - pipeline.predict_proba(sample)[:, 1]))
    assert gap > PARITY_TOLERANCE
    with pytest.raises(ModelLoadError, match=r"ONNX differs from scikit-learn by"):
        OnnxEngine.from_pipeline(pipeline, sample)
    with pytest.raises(ModelLoadError, match=r"no ONNX engine: .*differs"):
        make_engine(pipeline, "onnx")


def test_auto_falls_back_to_scikit_learn_and_says_why(training, caplog):
    pipeline = fitted(HalveForgotten(), training)
    with caplog.at_level(logging.WARNING, logger="mlops_course.serving"):
        engine = make_engine(pipeline, "auto")
    assert isinstance(engine, SklearnEngine)
    assert "serving with scikit-learn: ModelLoadError: ONNX differs" in caplog.text
    sample = parity_sample(8)
    np.testing.assert_array_equal(
        engine.predict_proba(sample), pipeline.predict_proba(sample)[:, 1]
    )


def test_a_graph_whose_inputs_are_not_the_features_is_refused(training):
    X, y = training
    # One more input than the service sends (a model trained on an extra column)
    extra = X.assign(loan_to_income=X["loan_amount"] / X["annual_income"])
    wider = make_model("logreg", extra_numeric=["loan_to_income"]).fit(extra, y)
    with pytest.raises(ModelLoadError, match=r"ONNX inputs .*loan_to_income.* != "):
        OnnxEngine(to_onnx(wider, extra.head()))
    # The same number of inputs, one of them renamed
    renamed = X.rename(columns={"age": "age_years"})
    pipeline = Pipeline(
        [("prep", _renamed_preprocessor()), ("model", LogisticRegression())]
    ).fit(renamed, y)
    with pytest.raises(ModelLoadError, match=r"ONNX inputs .*age_years"):
        OnnxEngine(to_onnx(pipeline, renamed.head()))
    # The right names in another order are fine: inputs are matched by name
    reordered = X[FEATURES[::-1]]
    assert OnnxEngine(to_onnx(make_model().fit(reordered, y), reordered.head()))


def _renamed_preprocessor():
    prep = make_preprocessor()
    numeric = [c if c != "age" else "age_years" for c in prep.transformers[0][2]]
    prep.transformers[0] = (*prep.transformers[0][:2], numeric)
    return prep
