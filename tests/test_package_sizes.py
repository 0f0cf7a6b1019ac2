"""What the images install and what it weighs, without building them (chapter 6)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlops_course.package_sizes import (
    canonical,
    dependency_closure,
    installed_size,
    lock_names,
    pip_installs,
)
from mlops_course.workspace import course_root

ROOT = course_root()
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))

# --- what the images install ---------------------------------------------------------


def test_pip_installs_are_parsed():
    (deps, package) = pip_installs((ROOT / "docker" / "train.Dockerfile").read_text())
    assert deps.constraints == ("requirements.lock",)
    assert "scikit-learn" in deps.packages
    assert package.local == (".",) and package.options == ("--no-deps",)
    (single,) = pip_installs(
        "FROM a\nRUN pip install -q -r req.txt -i http://x y==1 && ls\n"
    )
    assert single.packages == ("y==1",)
    assert single.options == ("-q", "-r req.txt", "-i http://x")


def test_lock_pins_every_package_the_images_install():
    pinned = set(lock_names((ROOT / "requirements.lock").read_text()))
    for path in DOCKERFILES:
        for install in pip_installs(path.read_text()):
            assert install.constraints == () or install.constraints == (
                "requirements.lock",
            )
            missing = {canonical(p) for p in install.packages} - pinned
            assert not missing, f"{path.name} installs unpinned packages: {missing}"


def test_dependency_closure_and_sizes():
    closure = dependency_closure(["pandas"])
    assert {"pandas", "numpy", "python-dateutil", "six"} <= closure
    assert "pytest" not in closure  # extras are not followed
    assert installed_size("numpy") > 10 * 2**20
    assert installed_size("no-such-distribution") == 0


# Imports ``sys.argv[2:]`` while refusing every module whose distributions are not in
# the JSON list ``sys.argv[1]``: the image's packages, simulated in this environment.
_IMPORT_IN_IMAGE = """
import importlib, importlib.machinery, json, re, sys
from importlib.metadata import packages_distributions
allowed = set(json.loads(sys.argv[1]))
owners = packages_distributions()

class ImagePathFinder(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        top = name.split(".")[0]
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(top, [])}
        if dists and not dists & allowed:
            return None  # as if it were not installed
        return super().find_spec(name, path, target)

sys.meta_path = [
    ImagePathFinder if f is importlib.machinery.PathFinder else f
    for f in sys.meta_path
]
for name in sys.argv[2:]:
    importlib.import_module(name)
"""


def _import_in_image(distributions: set[str], *modules: str):
    allowed = json.dumps(sorted(distributions | {"mlops-course"}))
    return subprocess.run(
        [sys.executable, "-c", _IMPORT_IN_IMAGE, allowed, *modules],
        capture_output=True,
        text=True,
    )


def _image_distributions(dockerfile: str) -> set[str]:
    (deps, _) = pip_installs((ROOT / "docker" / dockerfile).read_text())
    return dependency_closure(deps.packages)


@pytest.mark.parametrize(
    ("dockerfile", "entry_modules"),
    [
        ("train.Dockerfile", ["mlops_course.dvc_stages"]),
        # the service, and what it imports to load a registry model (models:/...)
        ("serve.Dockerfile", ["mlops_course.serving", "mlflow.sklearn", "skops.io"]),
    ],
)
@pytest.mark.slow
def test_each_image_installs_what_its_entry_point_imports(dockerfile, entry_modules):
    done = _import_in_image(_image_distributions(dockerfile), *entry_modules)
    assert done.returncode == 0, f"{dockerfile} misses a package:\n{done.stderr}"


def test_an_image_without_a_package_it_imports_fails_the_check():
    without = _image_distributions("serve.Dockerfile") - {"fastapi"}
    done = _import_in_image(without, "mlops_course.serving")
    assert done.returncode != 0
    assert "No module named 'fastapi'" in done.stderr
