"""Shared checks of notebook files, used by the repo and harness tests."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(/tmp/|/root/|/home/\w+/|/Users/\w+/|/work/|\.venv/)")
WARNING = re.compile(r"\b\w*(Warning|DEPRECATED|deprecated)\b")


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
    return list(cell.get("metadata", {}).get("tags", []))


def output_problems(nb) -> list[str]:
    """Errors, warnings and machine paths in a notebook's outputs."""
    problems = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and "raises-exception" not in tags(cell):
                problems.append(f"cell {i}: error output {out.get('ename')}: {out.get('evalue')}")
            text = out.get("text", "")
            if isinstance(text, list):
                text = "".join(text)
            data = out.get("data", {})
            text += "".join(
                v if isinstance(v, str) else "".join(v)
                for k, v in data.items()
                if k.startswith("text/")
            )
            if out.get("name") == "stderr" and WARNING.search(text):
                problems.append(f"cell {i}: warning in stderr: {text.strip()[:300]}")
            elif "Warning:" in text:
                problems.append(f"cell {i}: warning in output: {text.strip()[:300]}")
            match = MACHINE_PATH.search(text)
            if match:
                problems.append(f"cell {i}: machine-specific path {match.group(0)!r} in output")
    return problems


def read(path: Path):
    return nbformat.read(path, as_version=4)
