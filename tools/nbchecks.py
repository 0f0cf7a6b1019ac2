"""Shared checks of notebook files, used by the repo, harness and scaffold tests."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import jupytext
import nbformat
import yaml
from jupytext.config import load_jupytext_config

from mlops_course import notebook_outputs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mlops_course"
NOTEBOOK_NAME = re.compile(r"\d\d_[a-z0-9_]+\.ipynb")
#: The kernel every chapter is stored with and runs on.
KERNELSPEC = {
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "name": "python3",
}
#: The longest one notebook cell may run, in seconds, wherever a chapter runs:
#: `make outputs`, papermill and nbval in the suite, `make bench-memory`.
CELL_TIMEOUT_S = 900
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


def structure_problems(nb) -> list[str]:
    """What breaks the chapter pattern: schema, kernel, parameters cell, title."""
    problems = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as error:
        problems.append(f"not a valid notebook: {error.message}")
    if nb.metadata.get("kernelspec", {}).get("name") != KERNELSPEC["name"]:
        problems.append(f"kernelspec must be {KERNELSPEC['name']}")
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
    """The ``mlops_course`` modules Python (or IPython) code imports, by dotted name.

    Submodules keep their path below the package: ``from mlops_course.serving
    import canary`` and ``from mlops_course.serving.canary import Canary`` both
    give ``serving.canary``; ``from mlops_course import serving`` gives ``serving``.
    """
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
            if parts[0] != PACKAGE:
                continue
            # The longest dotted prefix that is a module (a name imported from a
            # module, such as a class, is not).
            modules = [
                ".".join(parts[1:end])
                for end in range(2, len(parts) + 1)
                if _is_module(".".join(parts[1:end]))
            ]
            if modules:
                found.add(modules[-1])
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(f"{PACKAGE}.{name}") is not None
    except ModuleNotFoundError:  # a parent of ``name`` is not a package
        return False


def notebook_modules(nb) -> set[str]:
    """The ``mlops_course`` modules a notebook's code cells import."""
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    return set().union(*(imported_modules(source) for source in code))


def covering_tests(modules: set[str]) -> list[str]:
    """The test files of ``modules`` (see the chapter map in CONTRIBUTING.md)."""
    # A module's own file is tests/test_<module>.py (``_and_`` joins two modules);
    # a submodule's is test_<parent>_<module>.py or test_<module>.py. A module
    # without one is covered by every test file that imports it.
    files = sorted((ROOT / "tests").glob("test_*.py"))
    found: set[str] = set()
    for module in modules:
        names = [module.replace(".", "_"), module.rsplit(".", 1)[-1]]
        own = next(
            (
                mine
                for name in names
                if (
                    mine := [
                        f
                        for f in files
                        if name in f.stem.removeprefix("test_").split("_and_")
                    ]
                )
            ),
            [],
        )
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


# ------------------------------------------------------------ lab-ready sources
# JupyterLab (jupyterlab-myst) renders MyST but not myst-nb's glue roles, and it
# shows every cell of a gated solution. So numbers in prose come from hidden-input
# code cells that display Markdown, diagrams are plain ```mermaid fences, and
# solutions and quiz answers stay collapsed in the book and in Lab alike.
# tests/test_lab_sources.py applies these checks to every chapter; the scaffold
# (tools/new_chapter.py) writes a chapter that passes them.

GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`")
GLUE_CALL = re.compile(r"\bglue\(|import glue\b")
MERMAID_DIRECTIVE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*\{mermaid\}", re.M)
FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(\{[\w-]+\})?(.*)$")
QUIZ_HEADING = re.compile(r"^#{2,3}\s+(check yourself|quiz)\b", re.I | re.M)

#: First line of a prose cell, a solution's code cell, a solution's Markdown cell.
PROSE_MARK = "# Prose with numbers computed above (click to see how it is built)."
SOLUTION_CODE_MARK = "# Solution code (in JupyterLab: click to expand)."
SOLUTION_TEXT_MARK = "% Solution, continued (in JupyterLab: click to expand)."


def directives(text: str) -> list[tuple[str, list[str]]]:
    """Top-level fenced blocks of a Markdown text: (name or language, option lines)."""
    found: list[tuple[str, list[str]]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, name = m.group(1), m.group(2) or m.group(3).strip()
        options = []
        i += 1
        while i < len(lines) and re.match(r"^\s*:[\w-]+:", lines[i]):
            options.append(lines[i].strip())
            i += 1
        while i < len(lines) and lines[i].strip() != fence:
            i += 1
        found.append((name, options))
        i += 1
    return found


def collapsed(options: list[str]) -> bool:
    """Whether a directive's options fold it (``:class: dropdown``)."""
    return any(o.startswith(":class:") and "dropdown" in o.split() for o in options)


def hidden(cell, what: str = "source_hidden") -> bool:
    """Whether JupyterLab folds a cell's source (or, with what=, its outputs)."""
    return bool(cell.get("metadata", {}).get("jupyter", {}).get(what))


def prose_problems(nb) -> list[str]:
    """Numbers quoted in a way JupyterLab cannot show, or prose cells shown as code."""
    problems = []
    roles = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and GLUE_ROLE.search(c.source)
    ]
    if roles:
        problems.append(
            f"cells {roles} quote myst-nb glue roles, which JupyterLab shows raw: "
            'store the number as facts["name"] and display the paragraph as Markdown'
        )
    calls = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and GLUE_CALL.search(c.source)
    ]
    if calls:
        problems.append(f"glue() in cells {calls}: use the facts dict")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "Markdown(" not in cell.source:
            continue
        if not ("remove-input" in tags(cell) and hidden(cell)):
            problems.append(
                f"cell {i} writes prose: tag it remove-input (book) and set "
                "jupyter.source_hidden (Lab)"
            )
        shown = any("text/markdown" in o.get("data", {}) for o in cell.outputs)
        if cell.get("execution_count") is not None and not shown:
            problems.append(f"prose cell {i} has no stored Markdown output")
    return problems


def mermaid_problems(markdown: str) -> list[str]:
    """A {mermaid} directive where a plain ```mermaid fence renders in Lab too."""
    if not MERMAID_DIRECTIVE.search(markdown):
        return []
    return [
        "the {mermaid} directive: a plain ```mermaid fence renders in JupyterLab "
        "and, with myst_fence_as_directive, in the book"
    ]


def solution_problems(nb) -> list[str]:
    """Solutions shown open in the book or in JupyterLab, or fewer than two."""
    problems: list[str] = []
    inside = False
    n_solutions = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for name, options in directives(cell.source):
                if name in ("{solution}", "{solution-start}"):
                    n_solutions += 1
                    if not collapsed(options):
                        problems.append(f"cell {i}: {name} without :class: dropdown")
                    if name == "{solution-start}":
                        inside = True
                        break
            else:
                if not inside:
                    continue
        if not inside or "{solution-start}" in cell.source:
            continue
        if not hidden(cell):
            problems.append(f"cell {i} inside a solution is shown in JupyterLab")
        if cell.cell_type == "code" and not hidden(cell, "outputs_hidden"):
            problems.append(f"cell {i} inside a solution shows its outputs in Lab")
        if cell.cell_type == "markdown" and "{solution-end}" in cell.source:
            inside = False
    if n_solutions < 2:
        problems.append(f"{n_solutions} solutions: a chapter has at least two")
    if inside:
        problems.append("a {solution-start} is never closed")
    return problems


CHECK_TAG = "exercise-check"


def exercise_labels(nb) -> list[str]:
    """The labels of a notebook's ``{exercise}`` blocks, in order."""
    labels = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for name, options in directives(cell.source):
                if name == "{exercise}":
                    label = [
                        o.split(":", 2)[2].strip()
                        for o in options
                        if o.startswith(":label:")
                    ]
                    labels.extend(label or ["(no label)"])
    return labels


def check_cell_text(cell) -> str:
    """The stored output of a check cell, as text (HTML repr or plain)."""
    text = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        text.append(data.get("text/plain", "") + output.get("text", ""))
    return "\n".join(text)


def exercise_check_problems(nb) -> list[str]:
    """An exercise whose solution is not followed by its passing check.

    After each ``{solution-end}`` comes a code cell tagged ``exercise-check``,
    shown in the book and in Lab, that calls ``checks.<name>(...)`` on the
    solution's answer; its stored output is the check's verdict on the
    solution, which must be "✅ <label>".
    """
    problems = []
    labels = iter(exercise_labels(nb))
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown" or "{solution-end}" not in cell.source:
            continue
        label = next(labels, "(no exercise)")
        following = cells[i + 1] if i + 1 < len(cells) else None
        if following is None or CHECK_TAG not in tags(following):
            problems.append(f"{label}: no cell tagged {CHECK_TAG} after its solution")
            continue
        if following.cell_type != "code" or "checks." not in following.source:
            problems.append(
                f"{label}: the {CHECK_TAG} cell does not call checks.<name>"
            )
        if hidden(following) or hidden(following, "outputs_hidden"):
            problems.append(f"{label}: the {CHECK_TAG} cell is hidden in Lab")
        if f"✅ {label}:" not in check_cell_text(following):
            problems.append(
                f"{label}: the stored check output is not '✅ {label}: ...'"
            )
    return problems


def quiz_problems(nb) -> list[str]:
    """A missing 'Check yourself' quiz, or an answer not folded in a dropdown."""
    cells = nb.cells
    start = next(
        (
            i
            for i, c in enumerate(cells)
            if c.cell_type == "markdown" and QUIZ_HEADING.search(c.source)
        ),
        None,
    )
    if start is None:
        return ["no 'Check yourself' quiz section"]
    text = ""
    for cell in cells[start:]:
        if cell.cell_type != "markdown":
            break
        body = cell.source
        if cell is cells[start]:
            body = body[QUIZ_HEADING.search(body).end() :]
        elif re.match(r"^#{1,2}\s", body):
            break
        text += "\n\n" + body
    blocks = directives(text)
    if not blocks:
        return ["the quiz has no questions"]
    problems = [
        f"quiz block {name} shows its answer: use {{dropdown}} or :class: dropdown"
        for name, options in blocks
        if name != "{dropdown}" and not collapsed(options)
    ]
    # no answer outside a dropdown: after the first question, only directives
    first = min(text.find(line) for line in text.split("\n") if FENCE.match(line))
    outside = re.sub(r"(?ms)^\s*(`{3,}|:{3,})\s*\{.*?^\s*\1\s*$", "", text[first:])
    if outside.strip():
        problems.append(f"quiz text outside a dropdown: {outside.strip()[:120]!r}")
    return problems


def lab_problems(nb) -> list[str]:
    """Every lab-ready check on one notebook: prose, diagrams, solutions, quiz."""
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return [
        *prose_problems(nb),
        *mermaid_problems(markdown),
        *solution_problems(nb),
        *quiz_problems(nb),
    ]
