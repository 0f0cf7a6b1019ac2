"""The four portfolio starters: each renders with copier and passes its own tests.

Starter 1 is the course's project template (chapters 7 and 11) made a copier
template; starters 2-4 live in ``starters/``. The slow test renders each into a
temporary folder, offline, and runs its test suite there with this
environment's Python, as a learner would after ``copier copy``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops_course import dvc_stages
from tools.nbchecks import ROOT

STARTERS = {
    "drift-retraining": dvc_stages.TEMPLATE,
    "bentoml-evidently": ROOT / "starters" / "bentoml-evidently",
    "feast-two-models": ROOT / "starters" / "feast-two-models",
    "promotion-shadow": ROOT / "starters" / "promotion-shadow",
}
README_SECTIONS = ("## Run it", "## Make it a portfolio piece", "## How a reviewer")
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", re.M)


def render(template: Path, target: Path) -> Path:
    import copier

    copier.run_copy(str(template), str(target), defaults=True, quiet=True)
    return target


def lock_pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {name.lower(): version for name, version in PIN.findall(text)}


@pytest.mark.parametrize("name", sorted(STARTERS))
def test_starter_is_a_copier_template_with_readme_tests_and_a_workflow(name):
    template = STARTERS[name]
    config = yaml.safe_load((template / "copier.yml").read_text())
    assert config["_templates_suffix"] == ".jinja"
    readme = (template / "README.md.jinja").read_text()
    assert all(section in readme for section in README_SECTIONS), name
    assert list((template / "tests").glob("test_*.py")), name
    assert list((template / ".github" / "workflows").glob("*.yml")), name


@pytest.mark.parametrize("name", sorted(STARTERS))
def test_starter_pins_the_versions_the_course_locks(name):
    files = sorted(STARTERS[name].glob("requirements*.txt.jinja"))
    text = "\n".join(path.read_text() for path in files)
    pins = dict((n.lower(), v) for n, v in PIN.findall(text))
    locked = lock_pins()
    assert pins, name
    wrong = {n: (v, locked.get(n)) for n, v in pins.items() if locked.get(n) != v}
    assert not wrong, f"{name}: pins differ from requirements.lock: {wrong}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STARTERS))
def test_starter_renders_and_passes_its_own_tests(name, tmp_path):
    project = render(STARTERS[name], tmp_path / name)
    assert (project / "README.md").is_file()
    assert not list(project.rglob("*.jinja"))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=-q",
         "-W", "ignore::DeprecationWarning"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 5, output[-2000:]
    print(f"{name}: {output.strip().splitlines()[-1]}")


def test_the_portfolio_page_links_every_starter_folder():
    page = (ROOT / "book" / "portfolio.md").read_text()
    linked = set(re.findall(r"\{repo\}`([^`]+)`", page))
    assert all((ROOT / path).is_dir() for path in linked), linked
    expected = {str(path.relative_to(ROOT)) for path in STARTERS.values()}
    assert linked == expected


# ---------------------------------------------------------------- the golden path
#: What chapter 23 added to starter 1 to make it the platform's golden path.
GOLDEN_PATH = (
    "serve/app.py.jinja",
    "src/model_card.py",
    "tests/test_serve.py",
    "tests/test_model_card.py",
    "{{ _copier_conf.answers_file }}.jinja",
)


def test_the_golden_path_has_a_service_a_model_card_and_an_update_record():
    template = dvc_stages.TEMPLATE
    missing = [path for path in GOLDEN_PATH if not (template / path).is_file()]
    assert not missing, missing
    card = yaml.safe_load((template / "dvc.yaml").read_text())["stages"]["card"]
    assert "metrics.json" in card["deps"] and "src/model_card.py" in card["deps"]
    assert [next(iter(out)) for out in card["outs"]] == ["MODEL_CARD.md"]


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.slow
def test_copier_update_brings_a_template_change_into_a_rendered_project(tmp_path):
    import copier

    template = tmp_path / "template"
    shutil.copytree(
        dvc_stages.TEMPLATE, template, ignore=shutil.ignore_patterns("__pycache__")
    )
    for args in (("init", "-q", "-b", "main"), ("config", "user.name", "P"),
                 ("config", "user.email", "p@example.com"), ("add", "-A"),
                 ("commit", "-q", "-m", "v1"), ("tag", "v1")):  # fmt: skip
        _git(*args, cwd=template)
    project = tmp_path / "project"
    copier.run_copy(str(template), project, defaults=True, quiet=True)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v1" and answers["project_name"] == "credit-retraining"
    assert 'MODEL_NAME = "credit-retraining"' in (project / "serve/app.py").read_text()
    for args in (("init", "-q", "-b", "main"), ("config", "user.name", "T"),
                 ("config", "user.email", "t@example.com"), ("add", "-A"),
                 ("commit", "-q", "-m", "from v1")):  # fmt: skip
        _git(*args, cwd=project)
    (template / "NEW.md").write_text("a platform change\n")
    _git("add", "-A", cwd=template)
    _git("commit", "-q", "-m", "v2", cwd=template)
    _git("tag", "v2", cwd=template)
    copier.run_update(project, defaults=True, overwrite=True, quiet=True)
    assert (project / "NEW.md").read_text() == "a platform change\n"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v2"
