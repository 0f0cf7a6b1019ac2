"""Shared checks of notebook files, used by the repo and harness tests."""

from __future__ import annotations

from pathlib import Path

import nbformat
import yaml

from mlops_course import hygiene

ROOT = Path(__file__).resolve().parents[1]


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
    """Errors, warnings and machine paths in a notebook's outputs (the pre-commit hook's check)."""
    return hygiene.output_problems(nb)


def read(path: Path):
    return nbformat.read(path, as_version=4)
