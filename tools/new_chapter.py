"""Write the skeleton of a new chapter, notebook and text source (`make chapter`).

    python -m tools.new_chapter 08 feature_store "Feature stores with Feast"

Writes notebooks/NN_slug.ipynb and its paired MyST text source notebooks/NN_slug.md
(jupytext, notebooks/jupytext.toml) in the form the course uses: title with
learning objectives and prerequisites, one `parameters` cell, the imports cell
with the workspace and the `facts` dict, a number quoted in prose through a
hidden-input cell that displays Markdown, a claim checked over several seeds and
asserted, a plain ```mermaid diagram, a recap, two exercises whose executed
solutions are folded in the book and in JupyterLab, each followed by its
`exercise-check` cell, and a quiz in dropdowns. It also writes the chapter's check
module, src/mlops_course/exercises/chNN.py (one check per exercise, right on the
skeleton's solutions), and its tests, tests/test_exercises_chNN.py. The pair
passes every check of the repository as written (tests/test_new_chapter.py).
It prints the lines to add to `_toc.yml`, the chapter map in CONTRIBUTING.md and
tests/ci_parameters.yml. It never overwrites a chapter. Then: write the chapter
in the .md, `make outputs NB=...`, and run its tests.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tools.nbchecks import (
    CHECK_TAG,
    KERNELSPEC,
    PROSE_MARK,
    SOLUTION_CODE_MARK,
    SOLUTION_TEXT_MARK,
    chapter_row,
    format_row,
    paired_text,
    text_source,
)

ROOT = Path(__file__).resolve().parents[1]

#: A prose cell: the book shows only its Markdown output, JupyterLab folds it.
PROSE = {"tags": ["remove-input"], "jupyter": {"source_hidden": True}}
#: A solution's code cell and its Markdown cells, folded in JupyterLab.
SOLUTION_CODE = {"jupyter": {"source_hidden": True, "outputs_hidden": True}}
SOLUTION_TEXT = {"jupyter": {"source_hidden": True}}


def prose(text: str) -> nbformat.NotebookNode:
    """A hidden-input code cell that displays `text` (an f-string body) as Markdown."""
    source = f'{PROSE_MARK}\ndisplay(\n    Markdown(f"""\n{text}\n""")\n)'
    return new_code_cell(source, metadata=PROSE)


def exercise(number: str, n: int, task: str, code: str, shows: str, check: str):
    """An exercise, its executed solution (folded in the book and in Lab), its check.

    ``check`` is the ``checks.<name>(answer, context=...)`` call: positional
    arguments are the learner's answers (names the solution assigns, which the
    student version stubs), keyword arguments values computed before the exercise.
    """
    md = new_markdown_cell
    label = f"ex-{number}-{n}"
    return [
        md(f"```{{exercise}}\n:label: {label}\n\n{task}\n```"),
        md(f"```{{solution-start}} {label}\n:class: dropdown\n```"),
        new_code_cell(f"{SOLUTION_CODE_MARK}\n{code}", metadata=SOLUTION_CODE),
        md(
            f"{SOLUTION_TEXT_MARK}\n\n{shows}\n\n```{{solution-end}}\n```",
            metadata=SOLUTION_TEXT,
        ),
        new_code_cell(check, metadata={"tags": [CHECK_TAG]}),
    ]


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
            "n_seeds = 5  # fresh samples behind the chapter's claim\n"
            "seed = 42  # one seed drives the data and the models",
            metadata={"tags": ["parameters"]},
        ),
        md(
            "The cell above is the notebook's **parameters** cell: the test suite\n"
            "injects smaller values after it (`tests/ci_parameters.yml`).\n\n"
            "## Set-up\n\n"
            "Every file this chapter writes goes to its own workspace folder,\n"
            "emptied at the start of each run, so a second run starts clean."
        ),
        code(
            "from IPython.display import Markdown, display\n\n"
            "from mlops_course import data, workspace\n"
            f"from mlops_course.exercises import ch{number} as checks\n\n"
            f'ws = workspace.workspace("{name}")\n'
            "facts = {}  # the numbers the prose quotes, filled in as the chapter runs"
        ),
        md(
            "## First step\n\n"
            "Each step is one short cell, and the prose around it says why. A\n"
            "number the prose quotes is computed by the code and stored in `facts`."
        ),
        code(
            "applications = data.generate_applications(n_rows, seed=seed)\n"
            "default_rate = float(applications[data.TARGET].mean())\n"
            'facts["n_rows"] = len(applications)\n'
            'facts["default_rate"] = f"{default_rate:.1%}"\n'
            'print(f"{len(applications)} applications, '
            'default rate {default_rate:.3f}")'
        ),
        prose(
            'The chapter works on {facts["n_rows"]} applications, of which\n'
            '{facts["default_rate"]} defaulted. This paragraph is the output of a\n'
            "hidden code cell, so nbval checks its numbers like any other output."
        ),
        md(
            "A claim the chapter depends on holds over several fresh samples, not\n"
            "one; the word that judges it is chosen by the code, and the claim is\n"
            "asserted. (A cell whose output an appendix page cites gets a tag\n"
            "`evidence-NN-what`: see book/interview.md.)\n\n"
            "```mermaid\n"
            "flowchart LR\n"
            "    S[seeds] --> G[fresh samples] --> R[default rates] --> P[prose]\n"
            "```"
        ),
        code(
            "rates = [\n"
            "    float(data.generate_applications(n_rows, seed=seed + k)"
            "[data.TARGET].mean())\n"
            "    for k in range(n_seeds)\n"
            "]\n"
            "assert rates[0] == default_rate  # the same seed, the same applications\n"
            "spread = max(rates) - min(rates)\n"
            'facts["n_seeds"] = n_seeds\n'
            'facts["rates"] = f"{min(rates):.1%} to {max(rates):.1%}"\n'
            'facts["steady"] = "steady" if spread < 0.05 else "not steady"\n'
            'print(f"default rates over {n_seeds} samples:", facts["rates"])'
        ),
        prose(
            'Over {facts["n_seeds"]} samples the default rate ranged from\n'
            '{facts["rates"]}: {facts["steady"]} enough to quote one sample\'s rate.'
        ),
        md(
            "## Recap\n\n"
            "- what the learner can now do;\n"
            "- the mistake the chapter showed failing, and its fix;\n"
            "- where the next chapter picks up."
        ),
        md(
            "## Exercises\n\n"
            "Each exercise ends with a **check**: a cell that calls\n"
            "`checks.<name>(...)` on your answer and says whether it is right, and\n"
            "if not, what is wrong. In the student version of this notebook\n"
            "(`student/`) the solution is replaced by `answer = ...`."
        ),
        *exercise(
            number,
            1,
            "An exercise on this chapter's tool, answerable in a few lines: the\n"
            "default rate of each region, as a Series named `by_region`.",
            'by_region = applications.groupby("region")[data.TARGET].mean()\n'
            "by_region.round(3)",
            "What the solution shows, in a sentence or two.",
            "checks.region_rates(by_region, applications=applications)",
        ),
        *exercise(
            number,
            2,
            "A second exercise, a step further than the first: the default rate\n"
            "of twice as many applications from the same seed, as `bigger_rate`.",
            "bigger = data.generate_applications(2 * n_rows, seed=seed)\n"
            "bigger_rate = float(bigger[data.TARGET].mean())\n"
            'print(f"default rate: {bigger_rate:.3f}")',
            "What the solution shows.",
            "checks.bigger_sample_rate(bigger_rate, n_rows=n_rows, seed=seed)",
        ),
        md(
            "## Check yourself\n\n"
            "```{dropdown} A question whose answer the chapter taught?\n"
            "The answer, in two or three sentences.\n"
            "```\n\n"
            ":::{dropdown} A question that quotes `code` opens with a colon fence?\n"
            "Yes: a backtick fence's title may not hold a backtick.\n"
            ":::"
        ),
    ]
    # The lexer the kernel will record: the text source's code cells name it
    # (```{code-cell} ipython3), so the pair stays in step once executed.
    language = {"name": "python", "pygments_lexer": "ipython3"}
    metadata = {"kernelspec": dict(KERNELSPEC), "language_info": language}
    return new_notebook(cells=cells, metadata=metadata)


CHECKS_MODULE = '''"""Checks for chapter {n}'s exercises ({title}).

Written by `make chapter` for the skeleton's two exercises: replace each with a
check of your own exercise (see mlops_course/exercises/__init__.py and ch01.py).
"""

from __future__ import annotations

import numbers

import pandas as pd

from mlops_course import data
from mlops_course.exercises import exercise, expect, expect_type


@exercise("ex-{number}-1")
def region_rates(by_region, *, applications) -> str:
    """The default rate of each region of the chapter's applications."""
    expect_type(by_region, pd.Series, "a Series of default rates indexed by region")
    truth = applications.groupby("region")[data.TARGET].mean()
    expect(
        sorted(map(str, by_region.index)) == sorted(truth.index),
        f"expected one rate per region ({{', '.join(sorted(truth.index))}}), got "
        f"{{', '.join(sorted(map(str, by_region.index)))}}",
    )
    gap = float((by_region.reindex(truth.index) - truth).abs().max())
    expect(
        gap < 1e-9,
        f"a region's rate is off by {{gap:.3f}}: average the target over the "
        "applications of each region",
    )
    return "one default rate per region, from the chapter's applications"


@exercise("ex-{number}-2")
def bigger_sample_rate(bigger_rate, *, n_rows, seed) -> str:
    """The default rate of twice as many applications from the same seed."""
    expect_type(bigger_rate, numbers.Real, "the default rate, a number")
    expect(0 <= bigger_rate <= 1, f"a rate is between 0 and 1, not {{bigger_rate:g}}")
    bigger = data.generate_applications(2 * n_rows, seed=seed)
    truth = float(bigger[data.TARGET].mean())
    expect(
        abs(bigger_rate - truth) < 1e-9,
        f"{{bigger_rate:.3f}} is not the default rate of {{2 * n_rows}} applications "
        f"generated with seed={{seed}}",
    )
    return "the default rate of a sample twice the size, from the same seed"
'''

CHECKS_TESTS = '''"""Chapter {n}'s exercise checks, on right and wrong answers."""

import pytest

from mlops_course import data
from mlops_course.exercises import ch{number}


@pytest.fixture(scope="module")
def applications():
    return data.generate_applications(500, seed=1)


def test_region_rates_accepts_the_rate_of_each_region(applications):
    by_region = applications.groupby("region")[data.TARGET].mean()
    feedback = ch{number}.region_rates(by_region, applications=applications)
    assert feedback.ok is True, feedback.message


def test_region_rates_refuses_the_overall_rate(applications):
    by_region = applications.groupby("region")[data.TARGET].mean()
    overall = by_region * 0 + applications[data.TARGET].mean()
    feedback = ch{number}.region_rates(overall, applications=applications)
    assert feedback.ok is False
    assert "average the target over the applications of each region" in (
        feedback.message
    )


def test_bigger_sample_rate_accepts_the_rate_of_the_bigger_sample():
    bigger = data.generate_applications(400, seed=3)
    rate = float(bigger[data.TARGET].mean())
    assert ch{number}.bigger_sample_rate(rate, n_rows=200, seed=3).ok is True


def test_bigger_sample_rate_refuses_the_rate_of_the_first_sample():
    rate = float(data.generate_applications(200, seed=3)[data.TARGET].mean())
    feedback = ch{number}.bigger_sample_rate(rate, n_rows=200, seed=3)
    assert feedback.ok is False
    assert "is not the default rate of 400 applications" in feedback.message
'''


def check_files(root: Path, number: str) -> dict[Path, str]:
    """The chapter's check module and its tests: path -> text (templates above)."""
    module = root / "src" / "mlops_course" / "exercises" / f"ch{number}.py"
    tests = root / "tests" / f"test_exercises_ch{number}.py"
    return {module: CHECKS_MODULE, tests: CHECKS_TESTS}


def main(argv: list[str] | None = None) -> int:
    """Write the pair; print the `_toc.yml` entry, chapter map row and CI parameters."""
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
    folder = args.root / "notebooks"
    path = folder / f"{name}.ipynb"
    checks = check_files(args.root, args.number)
    for existing in (path, text_source(path), *checks):
        if existing.exists():
            parser.error(
                f"{existing.relative_to(args.root)} exists: not overwriting it"
            )
    if not (folder / "jupytext.toml").is_file():
        parser.error(f"{folder / 'jupytext.toml'} is missing: no pairing settings")
    nb = skeleton(args.number, args.slug, args.title.strip())
    nbformat.validate(nb)
    nbformat.write(nb, path)
    # Written second, so the text source is the newer file of the pair; from the
    # notebook as stored (its metadata keys sorted), as jupytext writes it.
    stored = nbformat.read(path, as_version=4)
    text_source(path).write_text(paired_text(stored, folder))
    for file, template in checks.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        title = args.title.strip()
        text = template.format(n=int(args.number), number=args.number, title=title)
        file.write_text(text)

    print(f"wrote notebooks/{name}.md and notebooks/{name}.ipynb (no outputs yet),")
    written = ", ".join(str(f.relative_to(args.root)) for f in checks)
    print(f"and the exercise checks with their tests: {written}\n")
    print("add to _toc.yml, in its part's `sections:`:")
    print(f"          - file: notebooks/{name}\n")
    print("add to the chapter map in CONTRIBUTING.md (tests/test_repo.py checks it):")
    print(format_row(chapter_row(path)) + "\n")
    print("add to tests/ci_parameters.yml (small values for CI's papermill run):")
    print(f"{name}:\n  n_rows: 1000\n  n_seeds: 3\n")
    print(f"then: write the chapter in notebooks/{name}.md and its checks,")
    print(f"      make outputs NB=notebooks/{name}.ipynb  (also its student version)")
    print(
        "      tools/offline .venv/bin/python -m pytest -n 2 --dist loadfile "
        f'-k "{name} or ch{args.number} or new_chapter or lab_sources or repo '
        'or students"'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
