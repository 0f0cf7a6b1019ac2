"""The four portfolio starters: each renders with copier and passes its own tests.

Starter 1 is the course's project template (chapters 7 and 11) made a copier
template; starters 2-4 live in ``starters/``. The slow test renders each into a
temporary folder, offline, and runs its test suite there with this
environment's Python, as a learner would after ``copier copy``.
"""

from __future__ import annotations

import os
import re
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
