"""Checks for chapter 3b's exercises (W&B offline, and reading its run files).

The run file is read with the chapter's own reader (``wandb_records``), passed
to each check as ``read``: it checks every record's checksum as it goes.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlops_course import modeling, serialization
from mlops_course.exercises import exercise, expect, expect_type

STRONG_C = 1.0  # ex-03b-1's second run


def _key(item) -> str:
    return ".".join(item.nested_key) or item.key


@exercise("ex-03b-1")
def second_run(run_dir, read_back, *, read, X_train, y_train, X_valid, y_valid) -> str:
    """A second offline run with C = 1.0 whose logged AUC is the model's score."""
    expect_type(run_dir, Path, "the second run's folder, a Path")
    files = sorted(run_dir.glob("run-*.wandb"))
    expect(len(files) == 1, f"{run_dir.name} holds no run-<id>.wandb run file")
    records = list(read(files[0]))
    (run,) = [r.run for r in records if r.HasField("run")]
    config = {_key(i): json.loads(i.value_json) for i in run.config.update}
    expect(
        config.get("model.C") == STRONG_C,
        f"this run's config has model.C = {config.get('model.C')}: log the second "
        f"run with C = {STRONG_C:g} in its config",
    )
    history = [
        {_key(i): json.loads(i.value_json) for i in r.history.item}
        for r in records
        if r.HasField("history")
    ]
    expect(
        bool(history) and "valid_roc_auc" in history[-1],
        "the run's history has no valid_roc_auc: log the metrics with run.log",
    )
    logged = history[-1]["valid_roc_auc"]
    model = modeling.make_model("logreg", C=STRONG_C).fit(
        serialization.as_model_input(X_train), y_train
    )
    proba = model.predict_proba(serialization.as_model_input(X_valid))[:, 1]
    truth = modeling.score(y_valid, proba)["roc_auc"]
    expect(
        logged == truth,
        f"the run file holds a valid AUC of {logged:.6f}, but the model with "
        f"C = {STRONG_C:g} scores {truth:.6f} on the validation period",
    )
    expect(
        read_back == logged,
        f"your value read back, {read_back}, is not the one in the run file "
        f"({logged}): read the last history record",
    )
    return (
        "the run file holds the config with C = 1 and the very float "
        "modeling.score computed"
    )


@exercise("ex-03b-2")
def damaged_copy(damaged, *, read, original) -> str:
    """A copy of the run file with one byte changed, which the reader refuses."""
    expect_type(damaged, Path, "the damaged copy's path")
    expect(damaged.is_file(), f"there is no file at {damaged}")
    raw, good = damaged.read_bytes(), Path(original).read_bytes()
    expect(
        len(raw) == len(good),
        f"your copy is {len(raw)} bytes, the run file {len(good)}: change one "
        "byte, do not add or cut any",
    )
    changed = [i for i, (a, b) in enumerate(zip(raw, good, strict=True)) if a != b]
    expect(changed, "your copy is identical to the run file: change one byte of it")
    expect(
        len(changed) == 1,
        f"your copy differs from the run file in {len(changed)} bytes: change one",
    )
    try:
        list(read(damaged))
    except ValueError:
        pass
    else:
        expect(
            False,
            f"the reader read your copy without complaint: byte {changed[0]} is "
            "block padding, which no checksum covers; change one in the middle",
        )
    return (
        "the copy is refused: the checksum of the record holding the changed byte "
        "no longer matches"
    )
