"""The appendix pages cite notebook cells by tag; every citation must hold.

book/interview.md, book/mistakes.md and book/self_check.md link to the cells
whose outputs are their evidence, as ``{ref}`text <evidence-NN-what>` ``. A
cell is named by a tag in its metadata (never by its index), and
book/_ext/cell_labels.py turns that tag into a link target in the book.

These tests fail when a cited cell disappears, loses its tag, loses its
outputs or moves to another chapter; the book build (tests/test_book.py, `-W -n`)
fails on a link that does not resolve. The last test builds a two-page Sphinx
project with the extension, to show the tag becomes a target and that a
citation of an unknown tag is an error.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tools.nbchecks import ROOT, read, tags, toc_files, toc_notebooks

PAGES = ["book/interview", "book/mistakes", "book/self_check"]
PREFIX = "evidence-"
#: ``{ref}`text <label>` `` or ``{ref}`label` ``; the label is what we check.
REF = re.compile(r"\{ref\}`(?:[^`<]*<)?(evidence-[^`>]*)>?`")
LABEL = re.compile(r"evidence-(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*")


def citations(page: str) -> list[str]:
    return REF.findall((ROOT / f"{page}.md").read_text())


def tagged_cells() -> dict[str, list[tuple[Path, object]]]:
    """Every `evidence-` tag in the book's notebooks -> the cells carrying it."""
    found: dict[str, list[tuple[Path, object]]] = defaultdict(list)
    for path in toc_notebooks():
        for cell in read(path).cells:
            for tag in tags(cell):
                if tag.startswith(PREFIX):
                    found[tag].append((path, cell))
    return found


def text_of(cell) -> str:
    """What the reader sees under the cell: its text and Markdown outputs."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        data = out.get("data", {})
        parts.append("".join(data.get("text/markdown", data.get("text/plain", ""))))
    return "".join(parts)


def test_pages_are_in_the_toc_as_one_block():
    listed = toc_files()
    assert all(p in listed for p in PAGES), "add the evidence pages to _toc.yml"
    start = listed.index(PAGES[0])
    assert listed[start : start + len(PAGES)] == PAGES


@pytest.mark.parametrize("page", PAGES)
def test_every_citation_names_one_cell_with_outputs_in_its_chapter(page):
    cited = citations(page)
    assert cited, f"{page}.md cites no cell"
    cells = tagged_cells()
    for label in cited:
        assert LABEL.fullmatch(label), f"{page}: {label!r} is not evidence-NN-name"
        holders = cells.get(label, [])
        assert holders, f"{page}: no notebook cell is tagged {label!r}"
        assert len(holders) == 1, f"{label!r} tags {len(holders)} cells"
        path, cell = holders[0]
        chapter = LABEL.fullmatch(label).group(1)
        assert path.name.startswith(chapter), f"{label!r} is in {path.name}"
        assert cell.cell_type == "code", f"{label!r} tags a Markdown cell"
        assert text_of(cell).strip(), f"{label!r}: the cited cell has no output"


def test_every_evidence_tag_is_cited_somewhere():
    """A tag nobody cites is a stale name, and invites a wrong citation later."""
    cited = {label for page in PAGES for label in citations(page)}
    unused = sorted(set(tagged_cells()) - cited)
    assert not unused, f"evidence tags no page cites: {unused}"


def test_interview_page_answers_the_eight_roadmap_questions():
    text = (ROOT / "book" / "interview.md").read_text()
    numbers = re.findall(r"^## (\d)\. .+[?.]$", text, flags=re.MULTILINE)
    assert numbers == [str(n) for n in range(1, 9)]
    for section in re.split(r"^## \d\. ", text, flags=re.MULTILINE)[1:]:
        assert REF.search(section), "each answer cites at least one cell"


def test_mistakes_page_covers_the_five_roadmap_mistakes():
    text = (ROOT / "book" / "mistakes.md").read_text()
    headings = re.findall(r"^## (\d)\. ", text, flags=re.MULTILINE)
    assert headings == [str(n) for n in range(1, 6)]


def test_quiz_has_a_section_per_phase_with_dropdowns():
    text = (ROOT / "book" / "self_check.md").read_text()
    sections = re.split(r"^## Phase \d", text, flags=re.MULTILINE)
    assert len(sections) == 4, "one section per roadmap phase"
    assert all(s.count("```{dropdown}") >= 3 for s in sections[1:])


def _mini_book(
    tmp_path: Path, cited: str, copies: int = 1
) -> subprocess.CompletedProcess:
    """A Sphinx project: a notebook with `copies` tagged cells, a page citing one."""
    src = tmp_path / "src"
    src.mkdir(parents=True)
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_nb', 'cell_labels']\n"
        "nb_execution_mode = 'off'\n"
        "exclude_patterns = ['_build']\n"
    )
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "id": "c1",
        "metadata": {"tags": ["evidence-01-answer"]},
        "outputs": [{"name": "stdout", "output_type": "stream", "text": ["42\n"]}],
        "source": ["print(42)"],
    }
    notebook = {
        "cells": [
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# NB"]},
            *[{**cell, "id": f"c{n}"} for n in range(copies)],
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (src / "nb.ipynb").write_text(json.dumps(notebook))
    (src / "index.md").write_text(
        f"# Page\n\nSee {{ref}}`the answer <{cited}>`.\n\n"
        "```{toctree}\n:hidden:\nnb\n```\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "-q", "-b", "html"]
        + [str(src), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_tag_becomes_a_link_target_and_an_unknown_tag_fails_the_build(tmp_path):
    done = _mini_book(tmp_path / "good", "evidence-01-answer")
    assert done.returncode == 0, done.stdout + done.stderr
    html = tmp_path / "good" / "html"
    assert 'id="evidence-01-answer"' in (html / "nb.html").read_text()
    assert 'href="nb.html#evidence-01-answer"' in (html / "index.html").read_text()

    broken = _mini_book(tmp_path / "bad", "evidence-01-question")
    assert broken.returncode != 0
    assert "undefined label: 'evidence-01-question'" in broken.stderr

    twice = _mini_book(tmp_path / "twice", "evidence-01-answer", copies=2)
    assert twice.returncode != 0
    assert "cell tag 'evidence-01-answer' is already a label" in twice.stderr
