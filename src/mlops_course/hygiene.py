"""Repository hygiene checks run as offline pre-commit hooks (chapter 6).

Two checks that keep a machine-learning repository reviewable:

- :func:`blocked_files`: model, data and database files (``*.pkl``, ``*.joblib``,
  ``*.onnx``, ``*.db``, ``*.parquet``...) and any file over a size limit belong in
  DVC or an artifact store, not in git;
- :func:`notebook_problems`: a notebook's stored outputs must not hold error
  tracebacks, warnings or paths of the machine that ran it.

Command line (what ``.pre-commit-config.yaml`` calls; exit 1 when a check fails)::

    python -m mlops_course.hygiene large-files --max-kb 2048 FILE...
    python -m mlops_course.hygiene notebooks FILE.ipynb...
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

#: Suffixes of files that are models, data or local state: version them with DVC.
BINARY_SUFFIXES = (
    ".pkl",
    ".pickle",
    ".joblib",
    ".onnx",
    ".db",
    ".sqlite",
    ".sqlite3",
    ".h5",
    ".hdf5",
    ".pt",
    ".pth",
    ".ckpt",
    ".safetensors",
    ".parquet",
    ".feather",
    ".npy",
    ".npz",
)
DEFAULT_MAX_KB = 2048
#: Paths that only exist on the machine that ran a notebook (as the course's tests define).
MACHINE_PATH = re.compile(
    r"(/tmp/|/root/|/home/\w+/|/Users/\w+/|/work/|\.venv/|[A-Z]:\\Users\\)"
)
WARNING = re.compile(r"\b\w*(Warning|DEPRECATED|deprecated)\b")


def blocked_files(
    paths: Iterable[str | Path], *, max_kb: int = DEFAULT_MAX_KB
) -> list[str]:
    """One message per file that must not be committed (model/data suffix or too large)."""
    problems = []
    for path in map(Path, paths):
        if path.suffix.lower() in BINARY_SUFFIXES:
            problems.append(
                f"{path}: {path.suffix} files are models or data: track them with "
                "`dvc add` (commit the .dvc pointer) or log them to an artifact store"
            )
        elif path.is_file() and path.stat().st_size > max_kb * 1024:
            size_kb = path.stat().st_size // 1024
            problems.append(
                f"{path}: {size_kb} KB is over the {max_kb} KB limit for git"
            )
    return problems


def _text(output: dict) -> str:
    parts = [output.get("text", "")]
    for kind, value in output.get("data", {}).items():
        if kind.startswith("text/"):
            parts.append(value)
    return "".join("".join(p) if isinstance(p, list) else str(p) for p in parts)


def output_problems(nb: Mapping) -> list[str]:
    """Errors, warnings and machine paths in a notebook's stored outputs, one line each."""
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            text = _text(output)
            if output.get("output_type") == "error" and "raises-exception" not in tags:
                problems.append(
                    f"cell {i}: stored error {output.get('ename')}: {output.get('evalue')}"
                )
            if (
                output.get("name") == "stderr" and WARNING.search(text)
            ) or "Warning:" in text:
                problems.append(f"cell {i}: a warning in the stored output")
            if MACHINE_PATH.search(text):
                # The path itself is not echoed: this message may end up in an output too.
                problems.append(f"cell {i}: a path of the machine that ran it")
    return problems


def notebook_problems(path: str | Path) -> list[str]:
    """:func:`output_problems` of the notebook file ``path``, each prefixed with the path."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{path}: not a readable notebook ({exc.__class__.__name__})"]
    return [f"{path}: {problem}" for problem in output_problems(nb)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one hygiene check on the files pre-commit passes; exit 1 on any problem."""
    parser = argparse.ArgumentParser(prog="python -m mlops_course.hygiene")
    sub = parser.add_subparsers(dest="check", required=True)
    large = sub.add_parser("large-files", help="refuse model/data files and big files")
    large.add_argument("--max-kb", type=int, default=DEFAULT_MAX_KB)
    large.add_argument("files", nargs="*")
    notebooks = sub.add_parser("notebooks", help="stored outputs must be clean")
    notebooks.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    if args.check == "large-files":
        problems = blocked_files(args.files, max_kb=args.max_kb)
    else:
        problems = [p for f in args.files for p in notebook_problems(f)]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
