"""Chapter 4's exercise checks, on a right answer and on wrong ones."""

import os
import pickle
import pickletools

import numpy as np
import pytest

from mlops_course import data, modeling, serialization
from mlops_course.exercises import ch04


@pytest.fixture(scope="module")
def fitted():
    split = data.time_split(data.generate_applications(2_000, seed=1))
    X_train, y_train = modeling.features_and_target(split.train)
    X_test, _ = modeling.features_and_target(split.test)
    model = modeling.make_model("logreg", seed=1).fit(X_train, y_train)
    onnx_model = serialization.OnnxModel(serialization.to_onnx(model, X_train))
    return {
        "onnx_model": onnx_model,
        "model": model,
        "seed": 1,
        "test_proba": onnx_model.predict_proba(X_test),
    }


def test_onnx_parity_accepts_small_gaps_and_no_protection(fitted):
    gaps = {"broken_feed": 3e-7, "new_category": 2e-7}
    fb = ch04.onnx_parity(gaps, False, **fitted)
    assert fb.ok is True, fb.message
    fb = ch04.onnx_parity(gaps, True, **fitted)
    assert fb.ok is False
    assert "a faithful copy of a model cannot catch bad data" in fb.message


def test_onnx_parity_refuses_a_missing_scenario_or_a_wrong_gap(fitted):
    fb = ch04.onnx_parity({"broken_feed": 1e-7}, False, **fitted)
    assert fb.message == "no gap for new_category: check both scenarios"
    fb = ch04.onnx_parity({"broken_feed": 0.2, "new_category": 0.0}, False, **fitted)
    assert fb.ok is False
    assert fb.message.startswith("your gap on broken_feed is 2.0e-01, but the ONNX")


def pickle_imports(raw: bytes) -> list[str]:
    """The chapter's scan: the globals a pickle names, without loading it."""
    found, pushed, memo = set(), [], {}
    for op, arg, _ in pickletools.genops(raw):
        if op.name == "GLOBAL":
            found.add(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            found.add(".".join(str(s) for s in pushed[-2:]))
        if op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif op.name not in ("FRAME", "PROTO", "MARK"):
            pushed.append(arg if isinstance(arg, str) else None)
    return sorted(found)


@pytest.fixture
def pickles(tmp_path, fitted):
    ours, theirs = tmp_path / "model.pkl", tmp_path / "model_from_a_stranger.pkl"
    ours.write_bytes(pickle.dumps(fitted["model"]))
    theirs.write_bytes(pickle.dumps(os.system))
    return {"imports": pickle_imports, "pickle_path": ours, "stranger_path": theirs}


def test_unpickle_policy_accepts_a_prefix_allow_list(pickles):
    def safe(raw, allowed):
        return all(name.startswith(allowed) for name in pickle_imports(raw))

    fb = ch04.unpickle_policy(safe, **pickles)
    assert fb.ok is True, fb.message


def test_unpickle_policy_refuses_a_module_wide_allow_list(pickles):
    def by_module(raw, allowed):
        modules = {p.split(".")[0] for p in allowed}
        return all(name.split(".")[0] in modules for name in pickle_imports(raw))

    fb = ch04.unpickle_policy(by_module, **pickles)
    assert fb.ok is False
    assert "your function accepts a pickle of builtins.eval" in fb.message


def test_unpickle_policy_refuses_accepting_everything_or_nothing(pickles):
    fb = ch04.unpickle_policy(lambda raw, allowed: True, **pickles)
    assert fb.message == (
        f"your function accepts model_from_a_stranger.pkl, which imports "
        f"{os.system.__module__}.system"
    )
    fb = ch04.unpickle_policy(lambda raw, allowed: np.False_, **pickles)
    assert fb.ok is False
    assert fb.message.startswith("your function rejects model.pkl, whose globals")
