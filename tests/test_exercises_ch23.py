"""Chapter 23's exercise checks, on a right answer and on wrong ones."""

import shutil
import statistics
import subprocess
from datetime import datetime

import pytest
import yaml

from mlops_course.audit import AuditLog
from mlops_course.exercises import ch23


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def template(tmp_path):
    """A git template repo tagged v1 and v2 (only its tags matter to the check)."""
    path = tmp_path / "template"
    path.mkdir()
    (path / "copier.yml").write_text("_templates_suffix: .jinja\n")
    git("init", "-q", "-b", "main", cwd=path)
    git("config", "user.email", "p@example.com", cwd=path)
    git("config", "user.name", "P", cwd=path)
    for tag in ("v1", "v2"):
        (path / "version.txt").write_text(tag)
        git("add", "-A", cwd=path)
        git("commit", "-q", "-m", tag, cwd=path)
        git("tag", tag, cwd=path)
    return path


def project(tmp_path, commit="v2", C=0.5, extra=""):
    path = tmp_path / "project"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    (path / ".copier-answers.yml").write_text(yaml.safe_dump({"_commit": commit}))
    (path / "params.yaml").write_text(f"train:\n  kind: logreg\n  C: {C}\n{extra}")
    return path


def test_update_accepts_the_newest_version_with_the_team_value(tmp_path, template):
    fb = ch23.platform_update(project(tmp_path), template=template, team_C=0.5)
    assert fb.ok is True, fb.message


def test_update_refuses_an_old_template_version(tmp_path, template):
    fb = ch23.platform_update(project(tmp_path, "v1"), template=template, team_C=0.5)
    assert fb.ok is False
    assert "records template v1 but the platform's newest tag is v2" in fb.message


def test_update_refuses_conflict_markers(tmp_path, template):
    markers = "<<<<<<< before updating\n  C: 0.5\n=======\n  C: 2.0\n>>>>>>> after\n"
    fb = ch23.platform_update(
        project(tmp_path, extra=markers), template=template, team_C=0.5
    )
    assert fb.ok is False
    assert "params.yaml still hold conflict markers" in fb.message


def test_update_refuses_the_template_default_over_the_team_value(tmp_path, template):
    fb = ch23.platform_update(project(tmp_path, C=2.0), template=template, team_C=0.5)
    assert fb.ok is False
    assert "overrode a value the team had tuned" in fb.message


def test_update_refuses_a_plain_copy(tmp_path, template):
    path = project(tmp_path)
    (path / ".copier-answers.yml").unlink()
    fb = ch23.platform_update(path, template=template, team_C=0.5)
    assert fb.ok is False and "do not copy files" in fb.message


@pytest.fixture
def entries(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("register", version="1", at="2025-09-01T00:00:00+00:00")
    log.append("promote", version="1", at="2025-09-01T10:00:00+00:00")  # 10 h
    log.append("register", version="2", at="2025-09-02T00:00:00+00:00")
    log.append("promote", version="2", at="2025-09-03T06:00:00+00:00")  # 30 h
    log.append("register", version="3", at="2025-09-04T00:00:00+00:00")
    log.append("promote", version="3", at="2025-09-04T20:00:00+00:00")  # 20 h
    log.append("register", version="4", at="2025-09-05T00:00:00+00:00")
    log.append("reject", version="4", at="2025-09-09T00:00:00+00:00")  # 96 h
    log.append("rollback", version="2", replaced="3",
               at="2025-09-04T22:00:00+00:00")  # fmt: skip
    return log.entries()


def test_wait_accepts_the_median_registration_to_promotion(entries):
    assert ch23.platform_wait(20.0, entries=entries).ok is True


def test_wait_refuses_counting_every_decision(entries):
    times = {e["version"]: e["at"] for e in entries if e["action"] == "register"}
    everything = statistics.median(
        (datetime.fromisoformat(e["at"]) - datetime.fromisoformat(times[e["version"]]))
        .total_seconds() / 3600
        for e in entries
        if e["action"] in ("promote", "rollback", "reject")
    )  # fmt: skip
    fb = ch23.platform_wait(everything, entries=entries)
    assert fb.ok is False and "only promotions are deployments" in fb.message


def test_wait_refuses_another_number(entries):
    fb = ch23.platform_wait(10.0, entries=entries)
    assert fb.ok is False
    assert "not the median wait from registration to promotion" in fb.message


def test_wait_refuses_a_word(entries):
    assert ch23.platform_wait("twenty", entries=entries).ok is False
