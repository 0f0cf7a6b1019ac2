"""Write the skeleton of a new chapter notebook (`make chapter`).

    python -m tools.new_chapter 08 feature_store "Feature stores with Feast"

Writes notebooks/NN_slug.ipynb with the chapter pattern (title and learning
objectives, one `parameters` cell, the workspace cell, a glued number, a
recap, two exercises with executed solutions, a quiz) and prints the lines to
add to `_toc.yml` and to the chapter map in CONTRIBUTING.md. It never
overwrites a notebook. Then: write the chapter, `make outputs NB=...`, and
`make test PYTEST_ARGS="-k NN_slug"`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tools.nbchecks import chapter_row, format_row

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "name": "python3",
}


def skeleton(number: str, slug: str, title: str) -> nbformat.NotebookNode:
    """The chapter pattern as an unexecuted notebook."""
    name = f"{number}_{slug}"
    md, code = new_markdown_cell, new_code_cell
    cells = [
        md(
            f"# {int(number)}. {title}\n\n"
            "One paragraph: the problem this chapter solves for Kestrel Credit, and\n"
            "the tool it teaches, used through the tool's own API or CLI.\n\n"
            "**You will learn to**\n\n"
            "- first objective, as something the learner can do;\n"
            "- second objective;\n"
            "- third objective.\n\n"
            "**Prerequisites**: the chapters this one builds on."
        ),
        code(
            "n_rows = 2_000  # applications to generate (CI may use fewer)\n"
            "seed = 42  # one seed drives the data and the models",
            metadata={"tags": ["parameters"]},
        ),
        md(
            "The cell above is the notebook's **parameters** cell: the test suite\n"
            "injects small values after it (`tests/ci_parameters.yml`).\n\n"
            "## Set-up\n\n"
            "Every file this chapter writes goes to its own workspace folder,\n"
            "emptied at the start of each run, so a second run starts clean."
        ),
        code(
            "from myst_nb import glue\n\n"
            "from mlops_course import data, workspace\n\n"
            f'ws = workspace.workspace("{name}")\n'
            "applications = data.generate_applications(n_rows, seed=seed)\n"
            'glue("n_rows", len(applications), display=False)\n'
            'print(f"{len(applications)} applications")'
        ),
        md(
            "## First step\n\n"
            "This chapter works on {glue:text}`n_rows` applications. Each step is\n"
            "one short cell and the prose around it says why."
        ),
        code(
            "default_rate = float(applications[data.TARGET].mean())\n"
            'print(f"default rate: {default_rate:.3f}")'
        ),
        md(
            "## Recap\n\n"
            "- what the learner can now do;\n"
            "- the mistake the chapter showed failing, and its fix;\n"
            "- where the next chapter picks up."
        ),
        md(
            "```{exercise}\n"
            f":label: ex-{number}-1\n\n"
            "An exercise on this chapter's tool, answerable in a few lines.\n"
            "```"
        ),
        md(f"```{{solution-start}} ex-{number}-1\n:class: dropdown\n```"),
        code(
            'by_region = applications.groupby("region")[data.TARGET].mean()\n'
            "by_region.round(3)"
        ),
        md("What the solution shows, in a sentence or two.\n\n```{solution-end}\n```"),
        md(
            "```{exercise}\n"
            f":label: ex-{number}-2\n\n"
            "A second exercise, a step further than the first.\n"
            "```"
        ),
        md(f"```{{solution-start}} ex-{number}-2\n:class: dropdown\n```"),
        code(
            "bigger = data.generate_applications(2 * n_rows, seed=seed)\n"
            'print(f"default rate: {bigger[data.TARGET].mean():.3f}")'
        ),
        md("What the solution shows.\n\n```{solution-end}\n```"),
        md(
            "## Check yourself\n\n"
            "```{dropdown} A question whose answer the chapter taught?\n"
            "The answer, in two or three sentences.\n"
            "```\n\n"
            "```{dropdown} A second question?\n"
            "Its answer.\n"
            "```"
        ),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC})


def main(argv: list[str] | None = None) -> int:
    """Write the notebook; print the `_toc.yml` entry and chapter map row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("number", help="two digits, e.g. 08")
    parser.add_argument("slug", help="short snake_case name, e.g. feature_store")
    parser.add_argument("title", help="the chapter's title")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d\d", args.number):
        parser.error(f"number must be two digits, got {args.number!r}")
    if not re.fullmatch(r"[a-z0-9_]+", args.slug):
        parser.error(f"slug must be snake_case (a-z, 0-9, _), got {args.slug!r}")
    if not args.title.strip() or "|" in args.title:
        parser.error("title must be non-empty and contain no '|'")
    name = f"{args.number}_{args.slug}"
    path = args.root / "notebooks" / f"{name}.ipynb"
    if path.exists():
        parser.error(f"{path.relative_to(args.root)} exists: not overwriting it")
    nb = skeleton(args.number, args.slug, args.title.strip())
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)

    print(f"wrote notebooks/{name}.ipynb (no outputs yet)\n")
    print("add to _toc.yml, in its part's `sections:`:")
    print(f"          - file: notebooks/{name}\n")
    print("add to the chapter map in CONTRIBUTING.md (tests/test_repo.py checks it):")
    print(format_row(chapter_row(path)) + "\n")
    print(f"then: make outputs NB=notebooks/{name}.ipynb")
    print(f'      make test PYTEST_ARGS="-k {name}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
