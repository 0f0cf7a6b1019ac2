"""The DVC training pipeline: stages on real files, and a real `dvc repro`."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from mlops_course.data import TIMESTAMP_COLUMN, generate_applications
from mlops_course.pipeline import (
    DATA,
    DEFAULT_PARAMS,
    METRIC_NAMES,
    METRICS,
    MODEL,
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
from mlops_course.shell import run

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
    assert stages["prepare"]["deps"] == [DATA] and stages["generate"]["outs"] == [DATA]
    assert stages["train"]["outs"] == [MODEL]
    assert stages["evaluate"]["metrics"] == [{METRICS: {"cache": False}}]
    assert all(
        s["cmd"].startswith("python -m mlops_course.pipeline ") for s in stages.values()
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
        [sys.executable, "-m", "mlops_course.pipeline", "generate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.returncode == 0
    assert len(pd.read_parquet(tmp_path / DATA)) == 1_500
    assert main(["nonsense"]) == 2
    assert "usage: python -m mlops_course.pipeline" in capsys.readouterr().err


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
    run(["dvc", "push"], cwd=repo)
    assert sum(p.is_file() for p in (tmp_path / "remote").rglob("*")) == 5
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
