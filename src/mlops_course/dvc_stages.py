"""The course's training pipeline as DVC stages (chapters 2 and 7; chapter 6's image).

Two forms of the same four stages (generate, prepare, train, evaluate):

- **Stage scripts in the project** (chapters 2 and 7). :func:`copy_template`
  copies ``src/generate.py``, ``src/prepare.py``, ``src/train.py`` and
  ``src/evaluate.py`` from the package's ``project_template`` folder into a DVC
  project and writes its ``params.yaml``. The learner wires them with
  ``dvc stage add``, listing each script under ``deps``, so editing the code
  makes ``dvc repro`` re-run that stage. Their ``metrics.json`` holds the
  threshold chosen on validation and the metrics of the valid and test splits.
- **Module stages** (chapter 6's training image runs them as its entry point)::

    python -m mlops_course.dvc_stages generate  # data.*    -> data/applications.parquet
    python -m mlops_course.dvc_stages prepare   # prepare.* -> data/prepared/*.parquet
    python -m mlops_course.dvc_stages train     # train.*   -> models/model.joblib
    python -m mlops_course.dvc_stages evaluate  #           -> metrics.json

  :func:`write_project` writes a ready-made ``dvc.yaml`` and ``params.yaml``
  wiring these, with the modules each stage runs as its code ``deps`` (chapter
  2's lesson: a code change re-runs the stage), copied into the project's
  ``src/`` as the repository that builds the image holds them. The same inputs
  give a byte-identical ``metrics.json``. ``evaluate`` also writes the threshold
  it chose on validation beside the model (``models/model.joblib.metadata.json``),
  where the service reads it (chapters 5 and 6).

:func:`init_repo` makes a folder a git + DVC repository that stays offline and
keeps DVC's scratch state inside the project.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlops_course.data import generate_applications, time_split
from mlops_course.shell import run

# scikit-learn and joblib are imported inside the functions that need them, so the
# `generate` and `prepare` stages start in a fraction of a second.

DATA = "data/applications.parquet"
PREPARED = "data/prepared"
SPLITS = ("train", "valid", "test")
MODEL = "models/model.joblib"
#: The model's metadata beside it, as the service reads it (serving.metadata_path).
MODEL_METADATA = MODEL + ".metadata.json"
METRICS = "metrics.json"
PARAMS = "params.yaml"
STAGES = ("generate", "prepare", "train", "evaluate")
METRIC_NAMES = ("roc_auc", "average_precision", "brier", "expected_cost", "threshold")

#: The parameters of every stage; ``train`` keys besides kind/seed are hyperparameters.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "data": {"n_rows": 5_000, "seed": 42},
    "prepare": {"valid_fraction": 0.15, "test_fraction": 0.15},
    "train": {"kind": "logreg", "seed": 0, "C": 1.0},
}


def merge_params(
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict]:
    """The default parameters, updated section by section with ``params``."""
    merged = copy.deepcopy(DEFAULT_PARAMS)
    for section, values in (params or {}).items():
        merged.setdefault(section, {}).update(values)
    return merged


def load_params(root: str | Path = ".") -> dict[str, dict]:
    """The ``params.yaml`` of the project at ``root``, over the defaults."""
    path = Path(root) / PARAMS
    if not path.is_file():
        raise FileNotFoundError(f"no {PARAMS} in {Path(root).resolve().name!r}")
    return merge_params(yaml.safe_load(path.read_text()) or {})


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def fit(train: pd.DataFrame, train_params: Mapping[str, Any]):
    """Fit the course model described by a ``train`` params section."""
    from mlops_course.modeling import features_and_target, make_model

    hyper = {k: v for k, v in train_params.items() if k not in ("kind", "seed")}
    kind, seed = train_params.get("kind", "logreg"), int(train_params.get("seed", 0))
    model = make_model(kind, seed=seed, **hyper)
    x, y = features_and_target(train)
    return model.fit(x, y)


def evaluate_model(model, valid: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """Test metrics at the cost-minimising threshold chosen on valid, 6 decimals."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    from mlops_course.modeling import best_threshold, expected_cost, features_and_target

    x_valid, y_valid = features_and_target(valid)
    threshold, _ = best_threshold(
        y_valid.to_numpy(), model.predict_proba(x_valid)[:, 1]
    )
    x_test, y_test = features_and_target(test)
    proba = model.predict_proba(x_test)[:, 1]
    y = y_test.to_numpy()
    metrics = {
        "roc_auc": roc_auc_score(y, proba),
        "average_precision": average_precision_score(y, proba),
        "brier": brier_score_loss(y, proba),
        "expected_cost": expected_cost(y, proba, threshold),
        "threshold": threshold,
    }
    return {name: round(float(value), 6) for name, value in metrics.items()}


def fit_and_score(
    frame: pd.DataFrame, params: Mapping | None = None
) -> dict[str, float]:
    """The whole pipeline in memory: split, fit, evaluate (the stages' numbers)."""
    params = merge_params(params)
    split = time_split(frame, **params["prepare"])
    model = fit(split.train, params["train"])
    return evaluate_model(model, split.valid, split.test)


def generate(root: str | Path = ".") -> Path:
    """Stage ``generate``: the applications table from ``data.n_rows``/``data.seed``."""
    root = Path(root)
    data = load_params(root)["data"]
    frame = generate_applications(int(data["n_rows"]), seed=int(data["seed"]))
    _write_parquet(frame, root / DATA)
    return root / DATA


def prepare(root: str | Path = ".") -> list[Path]:
    """Stage ``prepare``: time-split the applications into train, valid, test files."""
    root = Path(root)
    params = load_params(root)["prepare"]
    source = root / DATA
    if not source.is_file():
        raise FileNotFoundError(
            f"{DATA} is missing: run `dvc pull` or the generate stage"
        )
    split = time_split(pd.read_parquet(source), **params)
    paths = []
    for name, frame in zip(SPLITS, split, strict=True):
        path = root / PREPARED / f"{name}.parquet"
        _write_parquet(frame, path)
        paths.append(path)
    return paths


def train(root: str | Path = ".") -> Path:
    """Stage ``train``: fit the model on the train split and save it with joblib."""
    import joblib

    root = Path(root)
    model = fit(
        pd.read_parquet(root / PREPARED / "train.parquet"), load_params(root)["train"]
    )
    path = root / MODEL
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path


def evaluate(root: str | Path = ".") -> dict[str, float]:
    """Stage ``evaluate``: score the saved model on test into ``metrics.json``."""
    import joblib

    root = Path(root)
    model = joblib.load(root / MODEL)
    valid, test = (
        pd.read_parquet(root / PREPARED / f"{n}.parquet") for n in ("valid", "test")
    )
    metrics = evaluate_model(model, valid, test)
    (root / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    beside = {"decision_threshold": metrics["threshold"]}  # travels with the model
    (root / MODEL_METADATA).write_text(json.dumps(beside, indent=2) + "\n")
    return metrics


def file_md5(path: str | Path) -> str:
    """The md5 of a file's bytes: what DVC 3 records for a tracked file."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def recorded_md5(dvc_file: str | Path) -> str:
    """The md5 a single-file ``.dvc`` file records for the data it points to."""
    outs = yaml.safe_load(Path(dvc_file).read_text())["outs"]
    if len(outs) != 1 or "md5" not in outs[0]:
        raise ValueError(f"{Path(dvc_file).name} does not track exactly one file")
    return str(outs[0]["md5"])


#: The course modules each module stage imports (its code ``deps``), by stage:
#: the package, this module and what it imports, and the model code for training.
_RUNS = ("__init__.py", "dvc_stages.py", "shell.py", "data.py")
CODE = {
    "generate": _RUNS,
    "prepare": _RUNS,
    "train": (*_RUNS, "modeling.py"),
    "evaluate": (*_RUNS, "modeling.py"),
}
CODE_DIR = "src/mlops_course"


def stage_definitions(*, generate: bool = True) -> dict[str, dict]:
    """The ``stages:`` of ``dvc.yaml`` (no ``generate`` for a ``dvc add``-ed file).

    Each stage lists the modules it runs (:data:`CODE`, under ``src/``) before
    its data: editing the code re-runs the stage, as with chapter 2's scripts.
    """
    command = "python -m mlops_course.dvc_stages {}".format
    split_files = [f"{PREPARED}/{name}.parquet" for name in SPLITS]

    def code(stage: str) -> list[str]:
        return [f"{CODE_DIR}/{name}" for name in CODE[stage]]

    stages: dict[str, dict] = {}
    if generate:
        stages["generate"] = {
            "cmd": command("generate"),
            "deps": code("generate"),
            "params": ["data"],
            "outs": [DATA],
        }
    stages["prepare"] = {
        "cmd": command("prepare"),
        "deps": [*code("prepare"), DATA],
        "params": ["prepare"],
        "outs": split_files,
    }
    stages["train"] = {
        "cmd": command("train"),
        "deps": [*code("train"), split_files[0]],
        "params": ["train"],
        "outs": [MODEL],
    }
    stages["evaluate"] = {
        "cmd": command("evaluate"),
        "deps": [*code("evaluate"), MODEL, *split_files[1:]],
        "outs": [MODEL_METADATA],
        "metrics": [{METRICS: {"cache": False}}],
    }
    return stages


def copy_code(path: str | Path) -> list[Path]:
    """Copy the modules the stages run into ``path/src/mlops_course``.

    They are the files of the package the stages import, byte for byte, so the
    hashes DVC records are those of the code that runs (in your own project the
    package lives in ``src/`` and ``pip install -e .`` installs it).
    """
    package = Path(__file__).resolve().parent
    target = Path(path) / CODE_DIR
    target.mkdir(parents=True, exist_ok=True)
    names = sorted({name for names in CODE.values() for name in names})
    for name in names:
        shutil.copyfile(package / name, target / name)
    return [target / name for name in names]


def write_project(
    path: str | Path,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    generate: bool = True,
) -> tuple[Path, Path]:
    """Write ``dvc.yaml``, ``params.yaml`` and the stages' code into ``path``.

    Returns the paths of ``dvc.yaml`` and ``params.yaml``; the code goes to
    ``src/mlops_course`` (:func:`copy_code`).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    copy_code(path)
    dvc_yaml = path / "dvc.yaml"
    params_yaml = path / PARAMS
    dvc_yaml.write_text(
        yaml.safe_dump(
            {"stages": stage_definitions(generate=generate)}, sort_keys=False
        )
    )
    params_yaml.write_text(yaml.safe_dump(merge_params(params), sort_keys=False))
    return dvc_yaml, params_yaml


def init_repo(
    path: str | Path,
    *,
    user: str = "Course Learner",
    email: str = "learner@example.com",
    remote: str | Path | None = None,
) -> Path:
    """Make ``path`` a git + DVC repo (local identity, no telemetry, optional remote).

    DVC's per-repo scratch state (``core.site_cache_dir``) is kept in
    ``.dvc/site-cache`` (set in ``.dvc/config.local``, which is not committed), so
    a repo re-created at the same path never meets stale state from an old one.
    """
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    run(["git", "init", "-q", "-b", "main"], cwd=path)
    run(["git", "config", "user.name", user], cwd=path)
    run(["git", "config", "user.email", email], cwd=path)
    dvc_dir = path / ".dvc"
    site_cache = dvc_dir / "site-cache"
    run(
        ["dvc", "init", "-q"],
        cwd=path,
        env={"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(site_cache)},
    )
    with (dvc_dir / "config").open("a") as config:  # empty after `dvc init`
        config.write("[core]\n    analytics = false\n    check_update = false\n")
    (dvc_dir / "config.local").write_text(
        f"[core]\n    site_cache_dir = {site_cache}\n"
    )
    with (dvc_dir / ".gitignore").open("a") as ignore:
        ignore.write("/site-cache\n")
    if remote is not None:
        # Given relative to the repo, DVC stores it relative to .dvc/config: portable.
        relative = os.path.relpath(Path(remote).resolve(), path)
        run(["dvc", "remote", "add", "-d", "storage", relative], cwd=path)
    run(["git", "add", ".dvc", ".dvcignore"], cwd=path)
    run(["git", "commit", "-q", "-m", "Initialise DVC"], cwd=path)
    return path


#: The stage scripts chapters 2 and 7 copy into their DVC project.
TEMPLATE = Path(__file__).resolve().parent / "project_template"
SCRIPTS = tuple(f"src/{stage}.py" for stage in STAGES)


def copy_template(
    path: str | Path,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    generate: bool = True,
) -> list[Path]:
    """Copy the stage scripts into the project at ``path``; write ``params.yaml``.

    ``params`` update :data:`DEFAULT_PARAMS` section by section; without
    ``generate`` the project has no ``src/generate.py`` and no ``data`` section
    (its data file is ``dvc add``-ed instead). Returns the written paths.
    """
    path = Path(path)
    written = []
    for script in SCRIPTS:
        if script == "src/generate.py" and not generate:
            continue
        target = path / script
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATE / script, target)
        written.append(target)
    values = merge_params(params)
    if not generate:
        values.pop("data", None)
    (path / PARAMS).write_text(yaml.safe_dump(values, sort_keys=False))
    written.append(path / PARAMS)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m mlops_course.dvc_stages <stage>`` in the project."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in STAGES:
        print(
            f"usage: python -m mlops_course.dvc_stages {{{','.join(STAGES)}}}",
            file=sys.stderr,
        )
        return 2
    result = {
        "generate": generate,
        "prepare": prepare,
        "train": train,
        "evaluate": evaluate,
    }[args[0]](Path.cwd())
    if isinstance(result, dict):
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
