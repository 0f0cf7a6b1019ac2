"""ONNX export and inference, skops and joblib round trips, pickle inspection."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException

from mlops_course.data import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
    generate_applications,
)
from mlops_course.modeling import features_and_target
from mlops_course.serialization import (
    OnnxModel,
    as_model_input,
    to_onnx,
)


@pytest.fixture(scope="module")
def fitted(trained_logreg):
    pipeline, train, _ = trained_logreg(4_000, seed=3, model_seed=3)
    return pipeline, features_and_target(train)[0]


@pytest.fixture(scope="module")
def onnx_model(fitted):
    model, X = fitted
    return OnnxModel(to_onnx(model, X))


@pytest.fixture(scope="module")
def awkward_rows():
    """A few thousand fresh rows, some with a missing number or an unseen category."""
    X, _ = features_and_target(generate_applications(3_000, seed=11))
    X = X.astype({c: "float64" for c in NUMERIC_FEATURES}).reset_index(drop=True)
    X.loc[0:49, "employment_years"] = np.nan
    X.loc[50:99, "annual_income"] = np.nan
    X.loc[100:149, "loan_purpose"] = "buy_now_pay_later"
    X.loc[150:199, "region"] = "atlantis"
    return X


def test_onnx_graph_takes_one_named_input_per_column(fitted):
    """The exported graph runs in a bare ONNX Runtime session, fed by column name."""
    import onnxruntime

    model, X = fitted
    session = onnxruntime.InferenceSession(
        to_onnx(model, X), providers=["CPUExecutionProvider"]
    )
    types = {i.name: (i.type, i.shape[1]) for i in session.get_inputs()}
    assert list(types) == FEATURES
    assert {types[n] for n in NUMERIC_FEATURES} == {("tensor(float)", 1)}
    assert {types[n] for n in CATEGORICAL_FEATURES} == {("tensor(string)", 1)}
    rows = X.head(7)
    feeds = {n: rows[[n]].to_numpy(np.float32) for n in NUMERIC_FEATURES}
    feeds |= {n: rows[[n]].astype(str).to_numpy(object) for n in CATEGORICAL_FEATURES}
    (proba,) = session.run(["probabilities"], feeds)
    assert proba.shape == (7, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(proba, model.predict_proba(rows), atol=1e-5)


def test_onnx_matches_sklearn_including_missing_and_unseen(
    fitted, onnx_model, awkward_rows
):
    model, _ = fitted
    expected = model.predict_proba(awkward_rows)[:, 1]
    got = onnx_model.predict_proba(awkward_rows)
    assert got.shape == (len(awkward_rows),)
    assert np.abs(got - expected).max() < 1e-5
    # The awkward rows really are different from what the model saw in training.
    assert np.isnan(awkward_rows["employment_years"]).sum() == 50
    assert not np.allclose(
        expected[100:150],
        model.predict_proba(awkward_rows.iloc[100:150].assign(loan_purpose="car"))[
            :, 1
        ],
    )


def test_records_fast_path_matches_frame_path(onnx_model, awkward_rows):
    rows = awkward_rows.head(300)
    records = rows.to_dict("records")
    records[0]["employment_years"] = None  # JSON null for a missing number
    records[1]["region"] = None  # a missing category counts as unknown
    from_frame = onnx_model.predict_proba(
        rows.assign(region=["" if i == 1 else r for i, r in enumerate(rows["region"])])
    )
    np.testing.assert_allclose(onnx_model.predict_proba_records(records), from_frame)


def test_onnx_names_a_missing_column(onnx_model, awkward_rows):
    with pytest.raises(KeyError, match="region"):
        onnx_model.predict_proba(awkward_rows.drop(columns=["region"]))
    records = awkward_rows.head(3).to_dict("records")
    del records[2]["age"]
    with pytest.raises(KeyError, match="age"):
        onnx_model.predict_proba_records(records)


def test_joblib_round_trip_gives_identical_predictions(fitted, awkward_rows, tmp_path):
    model, _ = fitted
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    expected = model.predict_proba(awkward_rows)
    assert np.array_equal(loaded.predict_proba(awkward_rows), expected)


def test_skops_refuses_untrusted_types_until_trusted(fitted, awkward_rows, tmp_path):
    model, _ = fitted
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted, "the pipeline should hold at least one type skops does not trust"
    with pytest.raises(UntrustedTypesFoundException):
        sio.load(path)
    loaded = sio.load(path, trusted=untrusted)
    expected = model.predict_proba(awkward_rows)
    assert np.array_equal(loaded.predict_proba(awkward_rows), expected)


def test_as_model_input_makes_numbers_double_and_keeps_order():
    frame = generate_applications(50, seed=5)
    out = as_model_input(frame)
    assert list(out.columns) == FEATURES
    assert all(out[c].dtype == np.float64 for c in NUMERIC_FEATURES)
    with pytest.raises(KeyError, match="age"):
        as_model_input(frame.drop(columns=["age"]))


def test_as_model_input_drops_extra_columns_and_leaves_its_input_alone():
    frame = generate_applications(50, seed=5)
    before = frame.dtypes.copy()
    out = as_model_input(frame.assign(region=frame["region"].astype("category")))
    assert "customer_id" in frame.columns and "customer_id" not in out.columns
    assert out["region"].map(type).eq(str).all()  # categories come out as str
    assert frame.dtypes.equals(before)  # the caller's frame is not converted
    # Integer columns become doubles that can hold a missing value.
    out.loc[out.index[0], "age"] = np.nan
    assert out["age"].isna().sum() == 1
