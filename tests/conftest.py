"""Fixtures the test files share (the suite-wide harness is the root conftest.py).

- ``anyio_backend``: async tests run on asyncio (anyio's own fixture would also
  try every other backend it finds installed);
- ``trained_logreg``: chapter 1's logistic-regression pipeline fitted on
  generated applications. Each test file asks for its own size and seed (the
  data its assertions were written for); one request is fitted once per run
  of a worker, and files asking for the same data share the fit;
- ``two_model_split``, ``two_onnx_files``, ``two_engines``: chapter 15's two
  models as ONNX files and engines, for the batcher and the multi-model app.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlops_course.data import generate_applications, time_split
from mlops_course.modeling import features_and_target, make_model
from mlops_course.serving import OnnxEngine
from tests.serving_helpers import two_onnx_models


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Trained(NamedTuple):
    """A fitted pipeline and its data."""

    pipeline: Pipeline
    train: pd.DataFrame  # the rows it was fitted on
    test: pd.DataFrame  # the later rows of the time split (empty without a split)


@cache
def _trained(n_rows: int, seed: int, split: bool, model_seed: int) -> Trained:
    frame = generate_applications(n_rows, seed=seed)
    if split:
        parts = time_split(frame)
        train, test = parts.train, parts.test
    else:
        train, test = frame, frame.iloc[:0]
    pipeline = make_model("logreg", seed=model_seed).fit(*features_and_target(train))
    return Trained(pipeline, train, test)


@pytest.fixture(scope="session")
def trained_logreg():
    """``trained_logreg(n_rows, seed, split=True, model_seed=0) -> Trained``.

    ``generate_applications(n_rows, seed=seed)``, its ``time_split`` (or every
    row when ``split=False``) and ``make_model("logreg", seed=model_seed)``
    fitted on the training rows. Treat the result as read-only: it is shared.
    """

    def trained(
        n_rows: int, seed: int, *, split: bool = True, model_seed: int = 0
    ) -> Trained:
        return _trained(n_rows, seed, split, model_seed)

    return trained


# Chapter 15's two models (a small logistic regression, a wide network) as ONNX
# files and engines, shared by the batcher's and the multi-model app's tests.
@pytest.fixture(scope="session")
def two_model_split():
    return time_split(generate_applications(3_000, seed=5))


@pytest.fixture(scope="session")
def two_onnx_files(two_model_split, tmp_path_factory):
    return two_onnx_models(tmp_path_factory.mktemp("models"), two_model_split.train)


@pytest.fixture(scope="session")
def two_engines(two_onnx_files):
    return {n: OnnxEngine(p.read_bytes()) for n, p in two_onnx_files.items()}
