"""Notebook output hygiene, run as an offline pre-commit hook (chapter 6).

:func:`notebook_problems`: a notebook's stored outputs must not hold error
tracebacks, warnings or paths of the machine that ran it. The course's tests
apply the same check to every chapter. (Model, data and large files are refused
by pre-commit's own hooks: see ``.pre-commit-config.yaml``.)

Command line (what ``.pre-commit-config.yaml`` calls; exit 1 when a check fails)::

    python -m mlops_course.notebook_outputs FILE.ipynb...
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Paths that only exist on the machine that ran a notebook.
MACHINE_PATH = re.compile(
    r"(/tmp/|/root/|/home/\w+/|/Users/\w+/|/work/|\.venv/|[A-Z]:\\Users\\)"
)
WARNING = re.compile(r"\b\w*(Warning|DEPRECATED|deprecated)\b")


def _text(output: dict) -> str:
    parts = [output.get("text", "")]
    for kind, value in output.get("data", {}).items():
        if kind.startswith("text/"):
            parts.append(value)
    return "".join("".join(p) if isinstance(p, list) else str(p) for p in parts)


def output_problems(nb: Mapping) -> list[str]:
    """Errors, warnings and machine paths in a notebook's outputs, one line each."""
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            text = _text(output)
            if output.get("output_type") == "error" and "raises-exception" not in tags:
                error = f"{output.get('ename')}: {output.get('evalue')}"
                problems.append(f"cell {i}: stored error {error}")
            if (
                output.get("name") == "stderr" and WARNING.search(text)
            ) or "Warning:" in text:
                problems.append(f"cell {i}: a warning in the stored output")
            if MACHINE_PATH.search(text):
                # The path is not echoed: this message may end up in an output too.
                problems.append(f"cell {i}: a path of the machine that ran it")
    return problems


def notebook_problems(path: str | Path) -> list[str]:
    """:func:`output_problems` of the notebook file ``path``, prefixed with it."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{path}: not a readable notebook ({exc.__class__.__name__})"]
    return [f"{path}: {problem}" for problem in output_problems(nb)]


def main(argv: Sequence[str] | None = None) -> int:
    """Check the notebooks pre-commit passes; exit 1 on any problem."""
    parser = argparse.ArgumentParser(
        prog="python -m mlops_course.notebook_outputs", description=main.__doc__
    )
    parser.add_argument("files", nargs="*", help="notebooks (.ipynb)")
    args = parser.parse_args(argv)
    problems = [p for f in args.files for p in notebook_problems(f)]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
