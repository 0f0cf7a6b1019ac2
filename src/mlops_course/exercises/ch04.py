"""Checks for chapter 4's exercises (serialisation: ONNX parity, pickle safety)."""

from __future__ import annotations

import numbers
import pickle
from pathlib import Path

import numpy as np

from mlops_course import data, modeling
from mlops_course.exercises import exercise, expect, expect_type

SCENARIOS = ("broken_feed", "new_category")  # ex-04-1's drift scenarios
TOLERANCE = 1e-5
N_ROWS = 2_000  # rows per scenario in the solution
ALLOWED = ("sklearn.", "numpy.", "builtins.slice")  # ex-04-2's prefixes


@exercise("ex-04-1")
def onnx_parity(gaps, protects, *, onnx_model, model, seed, test_proba) -> str:
    """ONNX parity on two drift scenarios, and what parity does not buy."""
    expect_type(gaps, dict, "a dict of the largest |ONNX - sklearn| gap by scenario")
    missing = [s for s in SCENARIOS if s not in gaps]
    expect(not missing, f"no gap for {', '.join(missing)}: check both scenarios")
    means = {}
    for name in SCENARIOS:
        expect_type(gaps[name], numbers.Real, f"the gap on {name}, a number")
        frame, _ = modeling.features_and_target(
            data.drift_scenario(name, n_rows=N_ROWS, seed=seed).frame
        )
        scored = onnx_model.predict_proba(frame)
        gap = float(np.max(np.abs(scored - model.predict_proba(frame)[:, 1])))
        means[name] = float(scored.mean())
        expect(
            (gaps[name] <= TOLERANCE) == (gap <= TOLERANCE),
            f"your gap on {name} is {gaps[name]:.1e}, but the ONNX model and the "
            f"pipeline differ by at most {gap:.1e} on its first {N_ROWS} rows: "
            "compare predict_proba of both on the same scenario frame",
        )
    expect(
        protects is False,
        "the ONNX model scores the broken feed as faithfully as the pipeline: "
        f"mean P(default) {means['broken_feed']:.3f} against "
        f"{float(np.mean(test_proba)):.3f} on the test set, in both; a faithful "
        "copy of a model cannot catch bad data (answer False)",
    )
    return (
        "both scenarios agree to within 1e-5, broken feed included: parity says "
        "the copy is faithful, not that the data is right"
    )


def _names(imports, raw: bytes) -> str:
    return ", ".join(n for n in imports(raw) if not n.startswith(ALLOWED)) or "none"


@exercise("ex-04-2")
def unpickle_policy(safe_to_unpickle, *, imports, pickle_path, stranger_path) -> str:
    """An allow-list on the globals a pickle names, applied before loading it."""
    expect(callable(safe_to_unpickle), "expected your function safe_to_unpickle")
    ours, theirs = Path(pickle_path).read_bytes(), Path(stranger_path).read_bytes()
    verdict = safe_to_unpickle(ours, ALLOWED)
    expect_type(verdict, (bool, np.bool_), "True or False from safe_to_unpickle")
    expect(
        verdict,
        f"your function rejects {Path(pickle_path).name}, whose globals all start "
        f"with an allowed prefix ({', '.join(imports(ours))})",
    )
    expect(
        not safe_to_unpickle(theirs, ALLOWED),
        f"your function accepts {Path(stranger_path).name}, which imports "
        f"{_names(imports, theirs)}",
    )
    sneaky = pickle.dumps(eval)  # builtins.eval: same module as the allowed slice
    expect(
        not safe_to_unpickle(sneaky, ALLOWED),
        "your function accepts a pickle of builtins.eval: an allowed prefix is "
        "builtins.slice, not the whole builtins module; match each global's full "
        "name against the prefixes",
    )
    return (
        "the allow-list passes our model and refuses the stranger's file, before "
        "anything is loaded"
    )
