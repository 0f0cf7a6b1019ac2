"""Make notebooks read the same in JupyterLab (jupyterlab-myst) as in the book.

    python tools/lab_ready.py                     # notebooks/*.ipynb and book/*.md
    python tools/lab_ready.py notebooks/02_data_versioning.ipynb
    python tools/lab_ready.py --check             # exit 1 if a file would change

Then re-run every notebook it changed: `make outputs NB=notebooks/NN_slug.ipynb`.

JupyterLab with jupyterlab-myst renders MyST (exercises, admonitions, dropdowns,
mermaid) but not myst-nb's glue roles, and it shows every cell of a gated
solution. The book renders stored outputs (`execute_notebooks: off`), so
myst-nb's `{eval}` role, which needs a live kernel, is no way out either. This
tool rewrites the sources mechanically, and is idempotent:

1. Numbers in prose. `glue("name", value, display=False)` becomes
   `facts["name"] = value` (a dict made in the imports cell), and each run of
   Markdown paragraphs quoting {glue:text}`name:fmt` becomes a code cell that
   displays the same text as Markdown, with `{facts["name"]:fmt}` in an
   f-string. The cell is tagged `remove-input` (the book shows only the text)
   and its source is collapsed in JupyterLab (`jupyter.source_hidden`). The
   numbers are then outputs, which nbval re-computes and compares. A paragraph
   quoting a fact the notebook computes only later is moved just after the
   cell that computes it (the tool says so). Prose quoting a value computed in
   a cell nbval does not compare (`# NBVAL_IGNORE_OUTPUT`: timings...) is
   tagged `nbval-ignore-output` too.
2. Diagrams. ```{mermaid} fences become plain ```mermaid fences, which
   JupyterLab renders natively and the book renders through myst-parser's
   `myst_fence_as_directive: [mermaid]` (also in book/*.md pages).
3. Solutions. `{solution}` and `{solution-start}` get `:class: dropdown`
   (sphinx-exercise collapses them in the book, jupyterlab-myst in Lab); the
   cells inside a gated solution are collapsed in JupyterLab (source, and
   outputs of code cells), each with a first line that says what it holds.
   Quiz answers already use `{dropdown}`, which both collapse.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

ROLE = re.compile(r"\{glue(?::(?:text|md|any))?\}`([^`]+)`")
FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})\s*\{([\w-]+)\}(.*)$")
SOLUTION_DIRECTIVE = re.compile(r"^\s*(`{3,}|:{3,})\s*\{(solution|solution-start)\}")
SOLUTION_END = re.compile(r"^\s*(`{3,}|:{3,})\s*\{solution-end\}", re.M)

FACTS_LINE = "facts = {}  # the numbers the prose quotes, filled in as the chapter runs"
PROSE_MARK = "# Prose with numbers computed above (click to see how it is built)."
CODE_MARK = "# Solution code (in JupyterLab: click to expand)."
MD_MARK = "% Solution, continued (in JupyterLab: click to expand)."


class ConversionError(Exception):
    """A construct the tool will not convert mechanically: fix it by hand."""


# --------------------------------------------------------------------- mermaid
def convert_mermaid(text: str) -> str:
    """Turn {mermaid} directive fences into plain ```mermaid code fences."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not (m and m.group(3) == "mermaid"):
            out.append(lines[i])
            i += 1
            continue
        indent, fence = m.group(1), m.group(2)
        closer = fence if fence[0] != ":" else ":::"
        out.append(f"{indent}```mermaid")
        i += 1
        while i < len(lines) and re.match(r"^\s*:[\w-]+:", lines[i]):
            print(f"  dropped mermaid directive option {lines[i].strip()!r}")
            i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(closer[:3])
            and set(lines[i].strip()) == {closer[0]}
        ):
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
        i += 1  # the closing fence
    return "\n".join(out)


# ----------------------------------------------------------------------- glue
def _is_glue_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "glue") or (
        isinstance(func, ast.Attribute) and func.attr == "glue"
    )


def convert_glue_calls(source: str) -> tuple[str, set[str], bool]:
    """Rewrite `glue(name, value, display=False)` statements as `facts[name] = value`.

    Returns the new source, the literal names it defines and whether it also
    defines names only known at run time (a glue name that is not a literal).
    """
    if "glue" not in source:
        return source, set(), False
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:  # IPython magics, for instance
        raise ConversionError(f"cannot parse a cell that uses glue: {exc}") from exc
    lines = source.split("\n")
    edits: list[tuple[int, int, str]] = []
    names: set[str] = set()
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and _is_glue_call(node.value):
            call = node.value
            if len(call.args) != 2 or any(k.arg != "display" for k in call.keywords):
                raise ConversionError(f"unexpected glue call: {ast.unparse(call)}")
            display = next((k.value for k in call.keywords), None)
            if not (isinstance(display, ast.Constant) and display.value is False):
                raise ConversionError(
                    f"glue without display=False shows its value: {ast.unparse(call)}"
                )
            name, value = call.args
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                names.add(name.value)
            else:
                dynamic = True
            key = ast.get_source_segment(source, name)
            val = ast.get_source_segment(source, value)
            indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
            edits.append(
                (node.lineno, node.end_lineno, f"{indent}facts[{key}] = {val}")
            )
    for start, end, text in sorted(edits, reverse=True):
        lines[start - 1 : end] = text.split("\n")
    new = "\n".join(lines)
    leftover = [n for n in ast.walk(ast.parse(new)) if _is_glue_call(n)]
    if leftover:
        raise ConversionError(f"glue used inside an expression: {source[:200]!r}")
    return new, names, dynamic


def convert_glue_import(source: str) -> str | None:
    """Replace `from myst_nb import glue` by the imports prose cells need."""
    if "myst_nb" not in source:
        return None
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "myst_nb":
            kept = [a.name for a in node.names if a.name != "glue"]
            lines = source.split("\n")
            new = ["from IPython.display import Markdown, display"]
            if kept:
                new.append(f"from myst_nb import {', '.join(kept)}")
            lines[node.lineno - 1 : node.end_lineno] = new
            last_import = max(
                n.end_lineno
                for n in tree.body
                if isinstance(n, ast.Import | ast.ImportFrom)
            )
            shift = len(new) - (node.end_lineno - node.lineno + 1)
            body = [
                n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)
            ]
            if body and body[-1].end_lineno > last_import:
                lines.append(FACTS_LINE)
            else:
                lines.insert(last_import + shift, FACTS_LINE)
            return "\n".join(lines)
    return None


def _blocks(text: str) -> list[str]:
    """Split Markdown into blank-line separated blocks, keeping fences whole."""
    blocks: list[list[str]] = [[]]
    fence: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        m = re.match(r"^(`{3,}|~{3,}|:{3,})", stripped)
        if fence is None and m:
            fence = m.group(1)
        elif (
            fence is not None
            and stripped.startswith(fence)
            and not stripped[len(fence) :].strip()
        ):
            fence = None
            blocks[-1].append(line)
            continue
        if fence is None and not stripped and blocks[-1]:
            blocks.append([])
            continue
        if stripped or blocks[-1] or fence is not None:
            blocks[-1].append(line)
    return ["\n".join(b) for b in blocks if b]


def _wrap(line: str, width: int = 88) -> str:
    """Break a long Markdown line at spaces (a soft line break in Markdown)."""
    if len(line) <= width or line.lstrip().startswith("|"):
        return line
    lead = re.match(r"\s*(?:[-*+] |\d+\. )?", line).group(0)
    indent = " " * len(lead)
    words = line[len(lead) :].split(" ")
    out, current = [], lead + words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) > width:
            out.append(current)
            current = indent + word
        else:
            current += " " + word
    out.append(current)
    return "\n".join(out)


def prose_cell_source(text: str) -> str:
    """Python that displays `text` as Markdown, glue roles replaced by facts."""
    if '"""' in text:
        raise ConversionError(
            f'prose with """ cannot become an f-string: {text[:80]!r}'
        )
    pieces: list[str] = []
    pos = 0
    for m in ROLE.finditer(text):
        pieces.append(text[pos : m.start()].replace("{", "{{").replace("}", "}}"))
        key, _, spec = m.group(1).partition(":")
        pieces.append(f'{{facts["{key.strip()}"]{":" + spec if spec else ""}}}')
        pos = m.end()
    pieces.append(text[pos:].replace("{", "{{").replace("}", "}}"))
    body = "\n".join(_wrap(line) for line in "".join(pieces).split("\n"))
    prefix = "rf" if "\\" in body else "f"
    return f'{PROSE_MARK}\ndisplay(\n    Markdown({prefix}"""\n{body}\n""")\n)'


HARD_BLOCK = re.compile(r"^\s*(#{1,6}\s|`{3,}|~{3,}|:{3,}|\+\+\+)")


def split_glue_markdown(text: str) -> list[tuple[str, str]]:
    """A cell's Markdown as ("md" | "prose", text) segments, in order.

    Paragraphs from the first to the last one quoting glue become prose;
    headings and directives stay Markdown and split the prose around them.
    """
    segments: list[tuple[str, list[str]]] = []

    def add(kind: str, blocks: list[str]) -> None:
        if not blocks:
            return
        if segments and segments[-1][0] == kind == "md":
            segments[-1][1].extend(blocks)
        else:
            segments.append((kind, list(blocks)))

    def flush(run: list[str]) -> None:
        marked = [i for i, b in enumerate(run) if ROLE.search(b)]
        if not marked:
            add("md", run)
            return
        add("md", run[: marked[0]])
        add("prose", run[marked[0] : marked[-1] + 1])
        add("md", run[marked[-1] + 1 :])

    run: list[str] = []
    for block in _blocks(text):
        if HARD_BLOCK.match(block):
            if ROLE.search(block):
                raise ConversionError(
                    f"a glue role inside a heading or directive: {block[:80]!r}"
                )
            flush(run)
            run = []
            add("md", [block])
        else:
            run.append(block)
    flush(run)
    return [(kind, "\n\n".join(blocks)) for kind, blocks in segments]


def facts_used(text: str) -> set[str]:
    return {m.group(1).partition(":")[0].strip() for m in ROLE.finditer(text)}


def _new_code_cell(source: str, cell_id: str, metadata: dict) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata=metadata)
    cell.id = cell_id[:64]
    return cell


def _not_compared(cell) -> bool:
    """Whether nbval skips comparing this cell's outputs (a volatile value)."""
    tags = cell.metadata.get("tags", [])
    markers = {"NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP"}
    return bool({"nbval-ignore-output", "nbval-skip"} & set(tags)) or any(
        line.strip().lstrip("#").strip() in markers
        for line in cell.source.split("\n")
        if line.strip().startswith("#")
    )


def _index(cells: list, cell: object) -> int:
    return next(i for i, c in enumerate(cells) if c is cell)


def convert_glue(nb) -> list[str]:
    """Apply step 1 to a notebook in place; returns notes for the user."""
    notes: list[str] = []
    if not any(c.cell_type == "markdown" and ROLE.search(c.source) for c in nb.cells):
        if any(c.cell_type == "code" and "glue(" in c.source for c in nb.cells):
            raise ConversionError("glue() calls but no glue roles: remove them by hand")
        return notes
    # code cells: glue(...) -> facts[...] = ...
    defines: dict[int, set[str]] = {}
    dynamic_cells: list[int] = []
    imported = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not imported:
            new_import = convert_glue_import(cell.source)
            if new_import is not None:
                cell.source = new_import
                imported = True
    if not imported:
        raise ConversionError("no `from myst_nb import glue` to replace")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source, names, dynamic = convert_glue_calls(cell.source)
            defines[i] = names
            if dynamic:
                dynamic_cells.append(i)
    # markdown cells: paragraphs quoting glue -> hidden-input code cells
    cells = []
    prose_cells = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or not ROLE.search(cell.source):
            cells.append(cell)
            continue
        for k, (kind, text) in enumerate(split_glue_markdown(cell.source)):
            new_id = cell.id if k == 0 else f"{cell.id[:60]}-{k}"
            if kind == "md":
                piece = cell if k == 0 else nbformat.v4.new_markdown_cell(text)
                piece.source, piece.id = text, new_id
                cells.append(piece)
                continue
            metadata = {"jupyter": {"source_hidden": True}, "tags": ["remove-input"]}
            code = _new_code_cell(prose_cell_source(text), new_id, metadata)
            cells.append(code)
            prose_cells.append((code, facts_used(text)))
    # move prose after the cell that computes the last fact it quotes
    first_def: dict[str, object] = {}
    for old_index in sorted(defines):
        for name in defines[old_index]:
            first_def.setdefault(name, nb.cells[old_index])
    dynamic = [nb.cells[i] for i in dynamic_cells]
    for code, used in prose_cells:
        needed = []
        for name in used:
            if name in first_def:
                needed.append(first_def[name])
            elif dynamic:
                needed.append(dynamic[0])
            else:
                raise ConversionError(f"prose quotes {name!r}, which nothing glues")
        if any(_not_compared(c) for c in needed):
            code.metadata["tags"].append("nbval-ignore-output")
        here = _index(cells, code)
        target = max(_index(cells, c) for c in needed)
        if target > here:
            del cells[here]
            cells.insert(target, code)  # just after the defining cell
            first = code.source.split("\n")[3][:50]
            notes.append(f"moved {first!r}... after the cell computing {sorted(used)}")
    nb.cells = cells
    return notes


# ------------------------------------------------------------------ solutions
def _ensure_dropdown(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        if SOLUTION_DIRECTIVE.match(lines[i]):
            j = i + 1
            options = []
            while j < len(lines) and re.match(r"^\s*:[\w-]+:", lines[j]):
                options.append(j)
                j += 1
            cls = [k for k in options if re.match(r"^\s*:class:", lines[k])]
            if not cls:
                out.append(":class: dropdown")
            elif "dropdown" not in lines[cls[0]].split():
                lines[cls[0]] += " dropdown"
        i += 1
    return "\n".join(out)


def _with_first_line(source: str, mark: str, blank: bool = False) -> str:
    """`source` led by the line `mark` (after a blank line, for Markdown)."""
    if source.startswith(mark):
        return source
    return f"{mark}\n\n{source}" if blank else f"{mark}\n{source}"


def convert_solutions(nb) -> None:
    """Apply step 3 to a notebook in place."""
    inside = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _ensure_dropdown(cell.source)
        starts = cell.cell_type == "markdown" and any(
            SOLUTION_DIRECTIVE.match(line) and "solution-start" in line
            for line in cell.source.split("\n")
        )
        if starts:
            inside = True
            continue
        if not inside:
            continue
        jupyter = dict(cell.metadata.get("jupyter", {}))
        jupyter["source_hidden"] = True
        if cell.cell_type == "code":
            jupyter["outputs_hidden"] = True
            if "remove-input" not in cell.metadata.get("tags", []):
                cell.source = _with_first_line(cell.source, CODE_MARK)
        else:
            cell.source = _with_first_line(cell.source, MD_MARK, blank=True)
        cell.metadata["jupyter"] = jupyter
        if cell.cell_type == "markdown" and SOLUTION_END.search(cell.source):
            inside = False
    if inside:
        raise ConversionError("a {solution-start} has no {solution-end}")


# ----------------------------------------------------------------- the files
def _ruff() -> str:
    here = Path(sys.executable).parent / "ruff"
    found = str(here) if here.exists() else shutil.which("ruff")
    if not found:
        raise ConversionError("ruff not found (it is in the lock: run `make venv`)")
    return found


def convert_notebook(path: Path, check: bool = False) -> bool:
    """Convert one notebook in place; True if it changed."""
    before = path.read_text()
    nb = nbformat.reads(before, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = convert_mermaid(cell.source)
    notes = convert_glue(nb)
    convert_solutions(nb)
    after = nbformat.writes(nb) + "\n"
    if after == before:
        return False
    if check:
        # compare modulo formatting: write to a scratch copy and format it
        scratch = path.with_name(f".{path.stem}.lab_ready.ipynb")
        scratch.write_text(after)
        try:
            _format(scratch)
            return scratch.read_text() != before
        finally:
            scratch.unlink()
    path.write_text(after)
    _format(path)
    changed = path.read_text() != before
    for note in notes:
        print(f"  {path.name}: {note}")
    return changed


def _format(path: Path) -> None:
    config = ["--config", str(ROOT / "pyproject.toml")]
    ruff = _ruff()
    subprocess.run(
        [ruff, "check", "-q", *config, "--select", "I", "--fix", str(path)], check=True
    )
    subprocess.run([ruff, "format", "-q", *config, str(path)], check=True)


def convert_page(path: Path, check: bool = False) -> bool:
    before = path.read_text()
    after = convert_mermaid(before)
    if after != before and not check:
        path.write_text(after)
    return after != before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing")
    args = parser.parse_args(argv)
    paths = args.paths or [
        *sorted((ROOT / "notebooks").glob("*.ipynb")),
        *sorted((ROOT / "book").glob("*.md")),
    ]
    changed: list[Path] = []
    failed = False
    for path in paths:
        try:
            convert = convert_notebook if path.suffix == ".ipynb" else convert_page
            if convert(path, check=args.check):
                changed.append(path)
        except ConversionError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failed = True
    verb = "would change" if args.check else "changed"
    for path in changed:
        print(f"{verb}: {path}")
    notebooks = [p for p in changed if p.suffix == ".ipynb"]
    if notebooks and not args.check:
        print("now refresh their outputs:")
        for p in notebooks:
            print(f"  make outputs NB={p}")
    return 1 if failed or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
