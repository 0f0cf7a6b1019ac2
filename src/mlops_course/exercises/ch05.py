"""Checks for chapter 5's exercises (serving the model with FastAPI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlops_course.exercises import exercise, expect, expect_type

TOLERANCE = 1e-5


@exercise("ex-05-1")
def onnx_service(onnx_path, engine, answers, *, in_process) -> str:
    """The service started on an ONNX file answers as ``predict_proba`` does."""
    import onnx

    expect_type(onnx_path, Path, "the path of the ONNX file you wrote")
    expect(onnx_path.is_file(), f"there is no file at {onnx_path}")
    try:
        onnx.checker.check_model(onnx.load(onnx_path))
    except Exception as error:  # onnx raises several types for a bad file
        expect(False, f"{onnx_path.name} is not a valid ONNX model: {error}")
    expect(
        engine == "onnx",
        f"/metadata reports the {engine!r} engine: the service did not load your "
        "file; pass onnx_path to serving.Settings",
    )
    expect_type(answers, dict, "the JSON body /predict/batch answered")
    proba = np.asarray(answers.get("probability_of_default", []), dtype=float)
    expect(
        len(proba) == len(in_process),
        f"{len(proba)} probabilities for the {len(in_process)} test applications: "
        "send the whole batch",
    )
    gap = float(np.max(np.abs(proba - np.asarray(in_process))))
    expect(
        gap < TOLERANCE,
        f"the served probabilities differ from predict_proba by up to {gap:.1e}, "
        f"more than {TOLERANCE:g}: is the ONNX file the same model?",
    )
    return (
        "the service loaded the ONNX file as it is, and its probabilities agree "
        "with predict_proba to within 1e-5"
    )


SCENARIOS = ("none", "broken_feed")


@exercise("ex-05-2")
def drift_contract(results, *, n_rows=500) -> str:
    """Plausible but wrong rows pass the contract; the decisions give them away."""
    expect_type(results, dict, "a dict of (status code, JSON answer) by scenario")
    missing = [s for s in SCENARIOS if s not in results]
    expect(not missing, f"no answer for {', '.join(missing)}: send both scenarios")
    share = {}
    for name in SCENARIOS:
        status, body = results[name]
        expect(
            status == 200,
            f"the {name} batch got a {status}: the contract should accept every "
            "row of both scenarios",
        )
        decisions = body.get("decision", [])
        expect(
            len(decisions) == n_rows,
            f"{len(decisions)} decisions for {name}: send {n_rows} applications",
        )
        share[name] = float(np.mean(np.array(decisions) == "reject"))
    expect(
        share["broken_feed"] > share["none"],
        f"the broken feed is rejected no more often than clean data "
        f"({share['broken_feed']:.1%} against {share['none']:.1%}): did you send "
        "the broken_feed frame?",
    )
    return (
        "every row passes the contract, yet the broken feed is rejected far more "
        "often: validation catches impossible values, not plausible wrong ones"
    )


@exercise("ex-05-3")
def nan_handler(response, app, *, body) -> str:
    """The NaN body gets a 422 naming the field, from the response and the app."""
    from fastapi.testclient import TestClient

    def verdict(r, where):
        expect(
            r.status_code == 422,
            f"{where} the NaN body got a {r.status_code}, not a 422: the default "
            "handler cannot write NaN in JSON; register a handler for "
            "RequestValidationError that writes non-finite inputs as text",
        )
        fields = [e["loc"][-1] for e in r.json().get("detail", [])]
        expect(
            "debt_to_income" in fields,
            f"{where} the 422 names {fields}, not debt_to_income",
        )

    expect(hasattr(response, "status_code"), "expected the TestClient's response")
    verdict(response, "in your response")
    with TestClient(app, raise_server_exceptions=False) as client:
        again = client.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
    verdict(again, "posted to your app again,")
    return "a 422 that names debt_to_income, with the NaN written as text"
