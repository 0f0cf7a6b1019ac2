"""Shared checks of notebook files, used by the repo, harness and scaffold tests."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import jupytext
import nbformat
import yaml
from jupytext.config import load_jupytext_config

from mlops_course import notebook_outputs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mlops_course"
NOTEBOOK_NAME = re.compile(r"\d\d_[a-z0-9_]+\.ipynb")
CHAPTER_MAP_START = "<!-- chapter-map:start -->"
CHAPTER_MAP_END = "<!-- chapter-map:end -->"
CHAPTER_MAP_HEADER = (
    "| chapter | notebook | package modules it imports | tests of those modules |\n"
    "| --- | --- | --- | --- |"
)

#: Code a notebook must not contain, and why.
ANTI_PATTERNS = {
    r"sys\.path\.(append|insert)": "import the installed course package instead",
    r"from mlops_course[\w.]* import \*": "use explicit imports",
    r"artifact_path\s*=": "MLflow 3 uses name=",
    r"transition_model_version_stage": "registry stages are deprecated: use aliases",
    r"evidently\.(report|test_suite|metric_preset)\b": "removed Evidently modules",
    r"shell\s*=\s*True": "pass argument lists, never a shell string",
    r"filterwarnings\(\s*['\"]ignore['\"]\s*\)": "filter one warning narrowly, not all",
    r"\bport\s*=\s*\d{2,5}\b": "never hard-code a port: use servers.free_port()",
}


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every `file:` entry of the table of contents, in order."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            if "root" in node:
                found.append(str(node["root"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(toc_path.read_text()))
    return found


def toc_notebooks() -> list[Path]:
    """The notebooks the book lists, as paths."""
    return [ROOT / f"{f}.ipynb" for f in toc_files() if f.startswith("notebooks/")]


def ci_parameters(name: str) -> dict:
    """The small parameters CI injects into notebook ``name``."""
    table = yaml.safe_load((ROOT / "tests" / "ci_parameters.yml").read_text()) or {}
    return dict(table.get(name) or {})


def tags(cell) -> list[str]:
    """The tags of one notebook cell."""
    return list(cell.get("metadata", {}).get("tags", []))


def output_problems(nb) -> list[str]:
    """Errors, warnings and machine paths in a notebook's outputs (as the hook)."""
    return notebook_outputs.output_problems(nb)


def read(path: Path):
    """A notebook file as an nbformat v4 node."""
    return nbformat.read(path, as_version=4)


def lock_tool() -> ModuleType:
    """tools/lock.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("lock", ROOT / "tools" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def structure_problems(nb) -> list[str]:
    """What breaks the chapter pattern: schema, kernel, parameters cell, title."""
    problems = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as error:
        problems.append(f"not a valid notebook: {error.message}")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec must be python3")
    marked = [i for i, c in enumerate(nb.cells) if "parameters" in tags(c)]
    if len(marked) != 1:
        problems.append(f"expected one cell tagged 'parameters', got cells {marked}")
    first = nb.cells[0] if nb.cells else None
    if not (first and first.cell_type == "markdown" and first.source.startswith("# ")):
        problems.append("the first cell must be a markdown '# Title'")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            problems += fence_problems(cell.source)
    return problems


# A backtick fence's info string may not contain a backtick (CommonMark), so
# "```{dropdown} Why `x`?" is not a directive: it renders as broken text. A colon
# fence (":::{dropdown} Why `x`?", MyST's colon_fence) allows it.
BROKEN_FENCE = re.compile(r"^```\{[\w-]+\}[^\n]*`", re.MULTILINE)


def fence_problems(markdown: str) -> list[str]:
    """Directive lines the Markdown parser cannot read as directives, with the fix."""
    return [
        f"{line.strip()[:60]!r}: a backtick in a ``` fence's title; open it with ':::'"
        for line in BROKEN_FENCE.findall(markdown)
    ]


def text_source(path: Path) -> Path:
    """The MyST Markdown source paired with a notebook (notebooks/jupytext.toml)."""
    return path.with_suffix(".md")


def paired_text(nb, folder: Path) -> str:
    """The text jupytext writes for `nb` with the pairing settings of `folder`."""
    config = load_jupytext_config(str(folder / "any.ipynb"))
    return jupytext.writes(nb, fmt="md:myst", config=config)


def pair_problems(path: Path) -> list[str]:
    """How a notebook and its text source disagree; [] when they are a true pair.

    The cells are compared first, so the message names the first cell that
    differs; then the whole text, so a hand edit that jupytext would not write
    (a lost blank line, a header change) is caught too.
    """
    source = text_source(path)
    fix = "edit one of them, then `make sync` (the newer file wins)"
    if not source.exists():
        return [f"{source.name} is missing: {fix}"]
    nb, text = nbformat.read(path, as_version=4), source.read_text()
    cells = jupytext.reads(text, fmt="md:myst").cells
    if len(cells) != len(nb.cells):
        counts = f"{len(nb.cells)} cells in {path.name}, {len(cells)} in {source.name}"
        return [f"{counts}: {fix}"]
    for i, (ours, theirs) in enumerate(zip(nb.cells, cells, strict=True)):
        kinds = [(c.cell_type, dict(c.metadata)) for c in (ours, theirs)]
        if kinds[0] != kinds[1]:
            return [f"cell {i}: type or tags differ between the two files: {fix}"]
        if ours.source != theirs.source:
            lines = ours.source.splitlines(), theirs.source.splitlines()
            pairs = zip(*lines, strict=False)
            line = next((t for o, t in pairs if o != t), theirs.source[-40:])
            return [f"cell {i} differs, {source.name} reads {line!r}: {fix}"]
    if text != paired_text(nb, path.parent):
        return [f"{source.name} is not the text jupytext writes for {path.name}: {fix}"]
    return []


def anti_pattern_problems(nb) -> list[str]:
    """The ANTI_PATTERNS a notebook's code contains, each with the reason."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    found = ANTI_PATTERNS.items()
    return [f"{pat}: {why}" for pat, why in found if re.search(pat, code)]


def imported_modules(source: str) -> set[str]:
    """The ``mlops_course`` modules Python (or IPython) code imports, by short name."""
    from IPython.core.inputtransformer2 import TransformerManager

    tree = ast.parse(TransformerManager().transform_cell(source))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == PACKAGE and len(parts) > 1 and _is_module(parts[1]):
                found.add(parts[1])
    return found


def _is_module(name: str) -> bool:
    return importlib.util.find_spec(f"{PACKAGE}.{name}") is not None


def notebook_modules(nb) -> set[str]:
    """The ``mlops_course`` modules a notebook's code cells import."""
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    return set().union(*(imported_modules(source) for source in code))


def covering_tests(modules: set[str]) -> list[str]:
    """The test files of ``modules`` (see the chapter map in CONTRIBUTING.md)."""
    # A module's own file is tests/test_<module>.py (``_and_`` joins two modules);
    # a module without one is covered by every test file that imports it.
    files = sorted((ROOT / "tests").glob("test_*.py"))
    found: set[str] = set()
    for module in modules:
        own = [
            f for f in files if module in f.stem.removeprefix("test_").split("_and_")
        ]
        candidates = own or files
        found.update(
            f.name for f in candidates if module in imported_modules(f.read_text())
        )
    return sorted(found)


def chapter_row(path: Path) -> list[str]:
    """The chapter map's cells for one notebook: chapter, notebook, modules, tests."""
    nb = read(path)
    title = nb.cells[0].source.splitlines()[0].removeprefix("# ").strip()
    modules = notebook_modules(nb)
    return [
        title,
        f"`notebooks/{path.name}`",
        ", ".join(f"`{m}`" for m in sorted(modules)) or "none",
        ", ".join(f"`{t}`" for t in covering_tests(modules)) or "none",
    ]


def format_row(cells: list[str]) -> str:
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


def chapter_map(text: str) -> list[list[str]]:
    """The rows of the chapter map table in CONTRIBUTING.md, as lists of cells."""
    start, end = text.index(CHAPTER_MAP_START), text.index(CHAPTER_MAP_END)
    rows = []
    for line in text[start:end].splitlines()[1:]:
        if line.startswith("|") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header
