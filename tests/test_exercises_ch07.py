"""Chapter 7's exercise checks, on a DVC pipeline built as the chapter builds it."""

import json

import pytest
import yaml

from mlops_course import dvc_stages
from mlops_course.exercises import ch07
from mlops_course.shell import sh

STAGE_LINES = [
    "dvc stage add -n generate -d src/generate.py -p data"
    " -o data/applications.parquet python src/generate.py",
    "dvc stage add -n prepare -d src/prepare.py -d data/applications.parquet"
    " -p prepare -o data/prepared/train.parquet -o data/prepared/valid.parquet"
    " -o data/prepared/test.parquet python src/prepare.py",
    "dvc stage add -n train -d src/train.py -d data/prepared/train.parquet"
    " -p train -o models/model.joblib python src/train.py",
    "dvc stage add -n evaluate -d src/evaluate.py -d models/model.joblib"
    " -d data/prepared/valid.parquet -d data/prepared/test.parquet"
    " -M metrics.json python src/evaluate.py",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = dvc_stages.init_repo(tmp_path_factory.mktemp("ch07") / "project")
    dvc_stages.copy_template(project, {"data": {"n_rows": 1_500, "seed": 1}})
    for line in STAGE_LINES:
        sh(line, cwd=project)
    sh("dvc repro -q", cwd=project)
    return project


def test_nothing_to_do_accepts_an_up_to_date_repro(project):
    out = sh("dvc repro", cwd=project)
    fb = ch07.nothing_to_do(out, project=project)
    assert fb.ok is True, fb.message
    fb = ch07.nothing_to_do(
        "Running stage 'train':\n> python src/train.py", project=project
    )
    assert fb.message == (
        "dvc repro ran train: after a full run nothing should run, unless a "
        "dependency or a parameter changed since dvc.lock"
    )


def test_colleague_change_accepts_train_alone_and_refuses_evaluate(project):
    fb = ch07.colleague_change(["train"], project=project)
    assert fb.message == "params.yaml has train.C = 1.0: set it to 0.1"
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["C"] = 0.1
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(sh("dvc status --json", cwd=project))
    fb = ch07.colleague_change(status, project=project)
    assert fb.ok is True, fb.message
    fb = ch07.colleague_change(["train", "evaluate"], project=project)
    assert fb.ok is False
    assert fb.message.startswith("evaluate is not stale yet: its inputs hash as")
    fb = ch07.colleague_change(["generate", "prepare", "train"], project=project)
    assert fb.ok is False
    assert "generate and prepare are skipped" in fb.message
