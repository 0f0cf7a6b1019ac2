"""Modules meet through public names only (issue 14).

A name with a leading underscore is its module's own business: it may change or
go without notice. Another module of the course (the package, its tests, tools,
benchmarks, the book's extensions, the chapters' code) reaching for one is a
hidden seam; what two modules share is made public, with a name that says what
it is. The check below reads every file with :mod:`ast`, so it needs no import.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from tools.nbchecks import ROOT, read

#: Top-level names of the repository's own modules (``tools.nbchecks``...).
COURSE_MODULES = ("mlops_course", "tests", "tools", "benchmarks", "conftest")

#: Folders whose Python files are checked (the root conftest.py is added).
CHECKED = ("src", "tests", "tools", "benchmarks", "book/_ext")

#: A named tuple's public API, underscored so as not to clash with field names.
NAMEDTUPLE_API = {"_asdict", "_fields", "_field_defaults", "_make", "_replace"}


def _private(name: str) -> bool:
    return (
        name.startswith("_")
        and not (name.startswith("__") and name.endswith("__"))
        and name not in NAMEDTUPLE_API
    )


def _ours(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in COURSE_MODULES


def module_name(path: Path) -> str:
    """The dotted name a repository file is imported as (``src/`` is the root)."""
    relative = path.resolve().relative_to(ROOT)
    parts = list(relative.with_suffix("").parts)
    if parts[0] == "src":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@functools.cache
def owning_module(dotted: str) -> str:
    """The longest prefix of ``dotted`` that is a module of the repository."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        path = Path(*parts[:end])
        for base in (ROOT / "src", ROOT):
            if (base / path).with_suffix(".py").is_file() or (
                base / path / "__init__.py"
            ).is_file():
                return ".".join(parts[:end])
    return parts[0]


def _absolute(node: ast.ImportFrom, here: str, is_package: bool) -> str | None:
    """The module an ``ImportFrom`` names, relative imports resolved."""
    if not node.level:
        return node.module
    package = here.split(".") if is_package else here.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def private_reaches(
    source: str, here: str = "__main__", *, is_package: bool = False
) -> list[str]:
    """Where ``source`` (module ``here``) uses another course module's private names.

    Caught: ``from mlops_course.x import _name`` (relative imports too), and
    ``x._name`` where ``x`` was bound by an import from a course module (the
    module itself, or anything imported from it: ``x.Class._name`` as well),
    including through ``getattr``/``setattr``/``monkeypatch.setattr`` with the
    name as a string. Dunders and a named tuple's ``_asdict``-style API are not
    private. A module may use its own private names.
    """
    tree = ast.parse(source)
    bound: dict[str, str] = {}  # local name -> the course module it came from
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name):
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        bound[top] = top
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, here, is_package)
            if not _ours(module):
                continue
            for alias in node.names:
                if _private(alias.name) and owning_module(module) != here:
                    found.append(
                        f"line {node.lineno}: from {module} import {alias.name}"
                    )
                bound[alias.asname or alias.name] = f"{module}.{alias.name}"

    def owner(expr: ast.expr) -> str | None:
        """The course module ``expr`` (``name`` or ``name.public...``) belongs to."""
        attrs = []
        while isinstance(expr, ast.Attribute) and not _private(expr.attr):
            attrs.append(expr.attr)
            expr = expr.value
        if not (isinstance(expr, ast.Name) and expr.id in bound):
            return None
        return owning_module(".".join([bound[expr.id], *reversed(attrs)]))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            module = owner(node.value)
            if module and module != here:
                shown = ast.unparse(node)
                found.append(f"line {node.lineno}: {shown} (private to {module})")
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            function = ast.unparse(node.func)
            target, name = node.args[0], node.args[1]
            if (
                function.split(".")[-1] in {"getattr", "setattr", "hasattr", "delattr"}
                and isinstance(name, ast.Constant)
                and isinstance(name.value, str)
                and _private(name.value)
            ):
                module = owner(target)
                if module and module != here:
                    found.append(
                        f"line {node.lineno}: {function}(..., {name.value!r}) "
                        f"(private to {module})"
                    )
    return found


def checked_files() -> list[Path]:
    files = [ROOT / "conftest.py"]
    for folder in CHECKED:
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if ".ipynb_checkpoints" not in f.parts]


def notebook_code(path: Path) -> str:
    """A notebook's code cells as Python (IPython magics and ``!`` lines translated)."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    cells = [c.source for c in read(path).cells if c.cell_type == "code"]
    return "\n".join(transform(source) for source in cells)


def test_the_check_sees_the_repository():
    files = checked_files()
    names = {module_name(f) for f in files}
    assert {"conftest", "mlops_course.servers", "tests.test_repo"} <= names
    assert any(f.is_relative_to(ROOT / "book" / "_ext") for f in files)
    assert any(f.is_relative_to(ROOT / "benchmarks") for f in files)


def test_no_module_uses_another_modules_private_names():
    problems = []
    for path in checked_files():
        for problem in private_reaches(
            path.read_text(), module_name(path), is_package=path.name == "__init__.py"
        ):
            problems.append(f"{path.relative_to(ROOT)} {problem}")
    assert not problems, (
        "make the shared name public (or move it where it belongs):\n"
        + "\n".join(problems)
    )


def test_no_chapter_uses_the_packages_private_names():
    problems = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        problems += [f"{path.name} {p}" for p in private_reaches(notebook_code(path))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            "from mlops_course.serving.engines import _first_line",
            "from mlops_course.serving.engines import _first_line",
        ),
        (
            "from mlops_course import servers\nservers._stop(p)",
            "servers._stop (private to mlops_course.servers)",
        ),
        (
            "import mlops_course.gates as g\nx = g._auc(y, p)",
            "g._auc (private to mlops_course.gates)",
        ),
        (
            "import mlops_course.servers\nmlops_course.servers._tail(p, 1)",
            "mlops_course.servers._tail (private to mlops_course.servers)",
        ),
        (
            "from mlops_course.serving import canary as ca\nca.Canary._new_step",
            "ca.Canary._new_step (private to mlops_course.serving.canary)",
        ),
        (
            "from mlops_course import gates\n"
            "monkeypatch.setattr(gates, '_TAG_UNSAFE', None)",
            "monkeypatch.setattr(..., '_TAG_UNSAFE') (private to mlops_course.gates)",
        ),
        (
            "from tools.nbchecks import _is_module",
            "from tools.nbchecks import _is_module",
        ),
    ],
)
def test_the_check_catches_a_reach_into_another_modules_privates(snippet, expected):
    found = private_reaches(snippet)
    assert len(found) == 1 and found[0].endswith(expected), found


def test_the_check_resolves_relative_imports_and_allows_what_is_public():
    relative = "from .engines import _first_line\nfrom . import _x"
    assert private_reaches(relative, "mlops_course.serving.arrow") == [
        "line 1: from mlops_course.serving.engines import _first_line",
        "line 2: from mlops_course.serving import _x",
    ]
    in_package = private_reaches(
        "from .engines import _x", "mlops_course.serving", is_package=True
    )
    assert in_package == ["line 1: from mlops_course.serving.engines import _x"]
    allowed = "\n".join(
        [
            "import numpy as np",
            "np._NoValue",  # not the course's
            "from mlops_course import servers, data",
            "servers.die_with_parent",
            "split = data.split_frame(frame)",
            "split._asdict()",  # an instance, not a module; a named tuple's API
            "data.Split._fields",
            "servers.__name__",
            "self._cache",
        ]
    )
    assert private_reaches(allowed, "tests.test_x") == []
    own = "from mlops_course import servers\nservers._tail(p, 1)"
    assert private_reaches(own, "mlops_course.servers") == []  # its own name
    assert private_reaches(own, "mlops_course") == [
        "line 2: servers._tail (private to mlops_course.servers)"
    ]
