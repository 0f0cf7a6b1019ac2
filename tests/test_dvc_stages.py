"""The DVC training pipeline: module stages, the stage scripts, a real `dvc repro`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest
import yaml

import mlops_course
from mlops_course.data import TIMESTAMP_COLUMN, generate_applications, time_split
from mlops_course.dvc_stages import (
    DATA,
    DEFAULT_PARAMS,
    METRIC_NAMES,
    METRICS,
    MODEL,
    MODEL_METADATA,
    SCRIPTS,
    TEMPLATE,
    copy_template,
    evaluate,
    file_md5,
    fit_and_score,
    generate,
    init_repo,
    load_params,
    main,
    merge_params,
    prepare,
    recorded_md5,
    train,
    write_project,
)
from mlops_course.modeling import best_threshold, features_and_target
from mlops_course.shell import run, sh

SMALL = {"data": {"n_rows": 1_500, "seed": 7}}


def run_all_stages(root):
    generate(root)
    prepare(root)
    train(root)
    return evaluate(root)


def test_write_project_writes_the_stages_and_merged_params(tmp_path):
    dvc_yaml, params_yaml = write_project(tmp_path, {"train": {"C": 0.5}})
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    assert list(stages) == ["generate", "prepare", "train", "evaluate"]
    code = "src/mlops_course/"
    assert stages["prepare"]["deps"][-1] == DATA
    assert f"{code}dvc_stages.py" in stages["prepare"]["deps"]
    assert stages["generate"]["outs"] == [DATA]
    assert f"{code}modeling.py" in stages["train"]["deps"]
    assert f"{code}modeling.py" not in stages["generate"]["deps"]
    for stage in stages.values():  # the code each stage runs is there, byte for byte
        for dep in (d for d in stage["deps"] if d.startswith(code)):
            source = Path(mlops_course.__file__).parent / dep.removeprefix(code)
            assert (tmp_path / dep).read_bytes() == source.read_bytes()
    assert stages["train"]["outs"] == [MODEL]
    assert stages["evaluate"]["outs"] == [MODEL_METADATA]
    assert stages["evaluate"]["metrics"] == [{METRICS: {"cache": False}}]
    assert all(
        s["cmd"].startswith("python -m mlops_course.dvc_stages ")
        for s in stages.values()
    )
    params = yaml.safe_load(params_yaml.read_text())
    assert params["train"] == {"kind": "logreg", "seed": 0, "C": 0.5}
    assert params["data"] == DEFAULT_PARAMS["data"]
    assert load_params(tmp_path) == params

    without = yaml.safe_load(write_project(tmp_path, generate=False)[0].read_text())
    assert list(without["stages"]) == ["prepare", "train", "evaluate"]


def test_merge_params_does_not_touch_the_defaults():
    merged = merge_params({"train": {"C": 3.0, "class_weight": "balanced"}})
    assert merged["train"]["C"] == 3.0 and merged["train"]["class_weight"] == "balanced"
    assert (
        DEFAULT_PARAMS["train"]["C"] == 1.0
        and "class_weight" not in DEFAULT_PARAMS["train"]
    )


def test_stages_write_real_files_and_metrics_are_byte_identical(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        write_project(root, SMALL)
        metrics = run_all_stages(root)
    assert set(metrics) == set(METRIC_NAMES)
    assert 0.5 < metrics["roc_auc"] <= 1 and 0 < metrics["brier"] < 0.25
    assert all(round(v, 6) == v for v in metrics.values())
    assert (first / METRICS).read_bytes() == (second / METRICS).read_bytes()
    assert json.loads((first / METRICS).read_text()) == metrics
    beside = json.loads((first / MODEL_METADATA).read_text())
    assert beside == {"decision_threshold": metrics["threshold"]}  # for the service
    # The in-memory shortcut computes the same numbers as the file-based stages.
    frame = generate_applications(1_500, seed=7)
    assert fit_and_score(frame, SMALL) == metrics


def test_prepare_splits_by_event_time(tmp_path):
    write_project(tmp_path, SMALL)
    generate(tmp_path)
    train_, valid, test = (pd.read_parquet(p) for p in prepare(tmp_path))
    assert len(train_) + len(valid) + len(test) == 1_500
    assert train_[TIMESTAMP_COLUMN].max() < valid[TIMESTAMP_COLUMN].min()
    assert valid[TIMESTAMP_COLUMN].max() < test[TIMESTAMP_COLUMN].min()
    assert len(test) == pytest.approx(0.15 * 1_500, abs=2)


def test_params_change_the_model(tmp_path):
    strong = tmp_path / "strong"
    write_project(strong, {**SMALL, "train": {"C": 0.001}})
    write_project(tmp_path / "default", SMALL)
    assert run_all_stages(strong) != run_all_stages(tmp_path / "default")


def test_missing_inputs_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="params.yaml"):
        prepare(tmp_path)
    write_project(tmp_path, SMALL)
    with pytest.raises(FileNotFoundError, match="dvc pull"):
        prepare(tmp_path)


@pytest.mark.slow
def test_command_line_runs_a_stage_in_the_working_directory(tmp_path, capsys):
    write_project(tmp_path, SMALL)
    done = subprocess.run(
        [sys.executable, "-m", "mlops_course.dvc_stages", "generate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(tmp_path / DATA)) == 1_500
    assert main(["nonsense"]) == 2
    assert "usage: python -m mlops_course.dvc_stages" in capsys.readouterr().err


def test_md5_helpers(tmp_path):
    (tmp_path / "f.txt").write_bytes(b"hello\n")
    assert file_md5(tmp_path / "f.txt") == "b1946ac92492d2347c6235b4d2611184"
    pointer = tmp_path / "f.txt.dvc"
    pointer.write_text("outs:\n- md5: abc\n  path: f.txt\n")
    assert recorded_md5(pointer) == "abc"
    pointer.write_text("outs:\n- md5: a\n  path: x\n- md5: b\n  path: y\n")
    with pytest.raises(ValueError, match="exactly one file"):
        recorded_md5(pointer)


@pytest.mark.slow
def test_dvc_repro_runs_the_pipeline_in_a_real_repo(tmp_path):
    repo = init_repo(tmp_path / "repo", remote=tmp_path / "remote")
    assert run(["git", "config", "--local", "user.name"], cwd=repo).stdout.strip()
    assert (
        str(tmp_path) not in (repo / ".dvc" / "config").read_text()
    )  # portable remote
    write_project(repo, SMALL)
    out = run(["dvc", "repro"], cwd=repo).stdout
    assert out.count("Running stage") == 4
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["generate"]["outs"][0]["md5"] == file_md5(repo / DATA)

    reference = tmp_path / "reference"
    write_project(reference, SMALL)
    run_all_stages(reference)
    assert (repo / METRICS).read_bytes() == (reference / METRICS).read_bytes()

    again = run(["dvc", "repro"], cwd=repo).stdout
    assert "Running stage" not in again and "up to date" in again
    run(["dvc", "push"], cwd=repo)  # data, 3 splits, model, its metadata
    assert sum(p.is_file() for p in (tmp_path / "remote").rglob("*")) == 6
    # The code is a dependency: editing the modeling code makes train stale.
    with (repo / "src/mlops_course/modeling.py").open("a") as source:
        source.write("# edited\n")
    stale = json.loads(run(["dvc", "status", "--json"], cwd=repo).stdout)
    assert sorted(stale) == ["evaluate", "train"]
    assert (repo / ".dvc" / "site-cache").is_dir()  # DVC's scratch state stays local


@pytest.mark.slow
def test_pipeline_works_on_a_dvc_added_data_file(tmp_path):
    repo = init_repo(tmp_path / "repo")
    frame = generate_applications(1_200, seed=3)
    (repo / "data").mkdir()
    frame.to_parquet(repo / DATA, index=False)
    run(["dvc", "add", DATA], cwd=repo)
    assert recorded_md5(repo / f"{DATA}.dvc") == file_md5(repo / DATA)
    write_project(repo, generate=False)
    out = run(["dvc", "repro"], cwd=repo).stdout
    assert re.findall(r"Running stage '(\w+)'", out) == ["prepare", "train", "evaluate"]
    metrics = json.loads((repo / METRICS).read_text())
    assert metrics == fit_and_score(pd.read_parquet(repo / DATA))


# ------------------------------------------------------------- stage scripts (ch. 2, 7)
#: The `dvc stage add` lines chapters 2 and 7 have the learner type.
STAGE_LINES = [
    "dvc stage add -n generate -d src/generate.py -p data"
    " -o data/applications.parquet python src/generate.py",
    "dvc stage add -n prepare -d src/prepare.py -d data/applications.parquet"
    " -p prepare -o data/prepared/train.parquet -o data/prepared/valid.parquet"
    " -o data/prepared/test.parquet python src/prepare.py",
    "dvc stage add -n train -d src/train.py -d data/prepared/train.parquet -p train"
    " -o models/model.joblib python src/train.py",
    "dvc stage add -n evaluate -d src/evaluate.py -d models/model.joblib"
    " -d data/prepared/valid.parquet -d data/prepared/test.parquet"
    " -M metrics.json python src/evaluate.py",
]


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([\w-]+)'", output)


def test_copy_template_copies_the_scripts_and_merges_params(tmp_path):
    written = copy_template(tmp_path, {"train": {"C": 0.5}})
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        *SCRIPTS,
        "params.yaml",
    ]
    for script in SCRIPTS:
        assert (tmp_path / script).read_bytes() == (TEMPLATE / script).read_bytes()
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert params["train"] == {"kind": "logreg", "seed": 0, "C": 0.5}
    assert params["data"] == DEFAULT_PARAMS["data"]

    bare = tmp_path / "bare"
    copy_template(bare, generate=False)
    assert not (bare / "src" / "generate.py").exists()
    assert "data" not in yaml.safe_load((bare / "params.yaml").read_text())


def test_template_split_and_metrics_agree_with_the_course_functions(tmp_path):
    copy_template(tmp_path, SMALL)
    for script in SCRIPTS:
        done = run(["python", script], cwd=tmp_path)
        assert done.stdout.strip(), f"{script} printed nothing"
    frame = generate_applications(1_500, seed=7)
    expected = time_split(frame)
    for name, part in zip(("train", "valid", "test"), expected, strict=True):
        got = pd.read_parquet(tmp_path / "data" / "prepared" / f"{name}.parquet")
        pd.testing.assert_frame_equal(got, part.reset_index(drop=True))
    metrics = json.loads((tmp_path / METRICS).read_text())
    assert set(metrics) == {"threshold", "valid", "test"}
    model = joblib.load(tmp_path / MODEL)
    x_valid, y_valid = features_and_target(expected.valid)
    threshold, _ = best_threshold(
        y_valid.to_numpy(), model.predict_proba(x_valid)[:, 1]
    )
    assert metrics["threshold"] == threshold  # chosen on valid, not on test
    legacy = fit_and_score(frame, SMALL)  # the module stages' test metrics
    assert legacy["threshold"] == threshold
    for name, value in metrics["test"].items():
        assert value == round(legacy[name], 4), name
    assert metrics["valid"] != metrics["test"]


@pytest.mark.slow
def test_dvc_reruns_only_what_a_code_change_affects(tmp_path):
    repo = init_repo(tmp_path / "repo")
    copy_template(repo, SMALL)
    for line in STAGE_LINES:
        sh(line, cwd=repo)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    assert "src/train.py" in stages["train"]["deps"]
    assert stages_run(sh("dvc repro", cwd=repo)) == [
        "generate",
        "prepare",
        "train",
        "evaluate",
    ]
    sh("git add --all", cwd=repo)
    sh("git commit -q -m pipeline", cwd=repo)
    before = json.loads((repo / METRICS).read_text())

    script = repo / "src" / "train.py"
    original = script.read_text()
    script.write_text(original.replace("**hyper)", 'class_weight="balanced", **hyper)'))
    assert script.read_text() != original
    assert "src/train.py" in sh("dvc status", cwd=repo)
    assert stages_run(sh("dvc repro", cwd=repo)) == ["train", "evaluate"]
    assert json.loads((repo / METRICS).read_text())["threshold"] > before["threshold"]

    sh("git checkout src/train.py", cwd=repo)
    back = sh("dvc repro", cwd=repo)
    assert stages_run(back) == []  # restored from the run cache, not retrained
    assert re.findall(r"Stage '(\w+)' is cached", back) == ["train", "evaluate"]
    assert json.loads((repo / METRICS).read_text()) == before
    assert sh("git status --short", cwd=repo) == ""
