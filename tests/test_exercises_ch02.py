"""Chapter 2's exercise checks, on a DVC project built as the chapter builds it."""

import json
import re
import shutil

import pandas as pd
import pytest
import yaml

from mlops_course import data, dvc_stages
from mlops_course.exercises import ch02
from mlops_course.shell import sh

STAGE_LINES = [
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
def built(tmp_path_factory):
    repo = dvc_stages.init_repo(tmp_path_factory.mktemp("ch02") / "credit-model")
    dvc_stages.copy_template(repo, generate=False)
    (repo / "data").mkdir()
    data.generate_applications(1_500, seed=1).to_parquet(
        repo / "data/applications.parquet"
    )
    sh("dvc add -q data/applications.parquet", cwd=repo)
    for line in STAGE_LINES:
        sh(line, cwd=repo)
    sh("dvc repro -q", cwd=repo)
    sh("git add -A", cwd=repo)
    sh("git commit -qm pipeline", cwd=repo)
    return repo


@pytest.fixture
def repo(built, tmp_path):
    """A fresh copy of the built project (its own DVC scratch state)."""
    copy = tmp_path / "credit-model"
    shutil.copytree(built, copy, symlinks=True)
    site = copy / ".dvc" / "site-cache"
    (copy / ".dvc" / "config.local").write_text(
        f"[core]\n    site_cache_dir = {site}\n"
    )
    return copy


def good_audit(project):
    recorded = {}
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            recorded[out["path"]] = out["md5"]
    for name in sh("git ls-files '*.dvc'", cwd=project).split():
        folder = (project / name).parent.relative_to(project)
        for out in yaml.safe_load((project / name).read_text())["outs"]:
            recorded[(folder / out["path"]).as_posix()] = out["md5"]
    return pd.DataFrame(
        [
            {
                "path": p,
                "matches": (project / p).is_file()
                and dvc_stages.file_md5(project / p) == md5,
            }
            for p, md5 in sorted(recorded.items())
        ]
    )


def test_audit_accepts_an_md5_audit_and_refuses_a_lock_only_one(repo):
    fb = ch02.audit(good_audit, project=repo)
    assert fb.ok is True, fb.message

    def lock_only(project):
        table = good_audit(project)
        return table[table["path"] != "data/applications.parquet"]

    fb = ch02.audit(lock_only, project=repo)
    assert fb.ok is False
    assert fb.message == (
        "your audit does not list data/applications.parquet: every output in "
        "dvc.lock and every file a .dvc pointer tracks has a recorded md5"
    )


def test_audit_refuses_an_audit_blind_to_contents(repo):
    def exists_only(project):
        table = good_audit(project)
        return table.assign(matches=[(project / p).is_file() for p in table["path"]])

    fb = ch02.audit(exists_only, project=repo)
    assert fb.ok is False
    assert "after one byte appended to data/prepared/test.parquet" in fb.message
    assert "your audit flags nothing" in fb.message


def change_fraction(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["prepare"]["test_fraction"] = 0.2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stale = sorted(json.loads(sh("dvc status --json", cwd=repo)))
    ran = re.findall(r"Running stage '([\w-]+)'", sh("dvc repro", cwd=repo))
    return stale, ran


def test_params_change_accepts_what_dvc_did_and_refuses_guesses(repo):
    stale, ran = change_fraction(repo)
    fb = ch02.params_change(stale, ran, project=repo)
    assert fb.ok is True, fb.message
    fb = ch02.params_change(["prepare", "train", "evaluate"], ran, project=repo)
    assert fb.ok is False
    assert "train is not stale yet: nothing it declares has changed" in fb.message
    fb = ch02.params_change(stale, ["prepare"], project=repo)
    assert fb.ok is False
    assert fb.message.startswith(
        "train also runs: it depends on data/prepared/train.parquet, an output of "
        "a stage that ran, whose hash changed"
    )


def test_params_change_refuses_an_unchanged_params_file(repo):
    fb = ch02.params_change(["prepare"], ["prepare"], project=repo)
    assert fb.message == ("params.yaml has prepare.test_fraction = 0.15: set it to 0.2")


def test_comment_change_accepts_evaluate_alone_and_refuses_train(repo):
    script = repo / "src" / "evaluate.py"
    script.write_text(script.read_text().replace("# our own file", "# a file we wrote"))
    stale = sorted(json.loads(sh("dvc status --json", cwd=repo)))
    ran = re.findall(r"Running stage '([\w-]+)'", sh("dvc repro", cwd=repo))
    fb = ch02.comment_change(stale, ran, project=repo)
    assert fb.ok is True, fb.message
    fb = ch02.comment_change(stale, ["train", "evaluate"], project=repo)
    assert fb.ok is False
    assert fb.message == "train does not run: nothing it depends on changed"


def test_comment_change_refuses_an_unedited_script(repo):
    fb = ch02.comment_change(["evaluate"], ["evaluate"], project=repo)
    assert fb.message == (
        "src/evaluate.py is the file the chapter copied, unchanged: edit a "
        "comment in it"
    )
