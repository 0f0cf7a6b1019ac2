"""Helpers for the interactive MLOps course.

Import the modules explicitly (``from mlops_course import data``); importing has
no side effects. Each module's docstring says what it holds and which chapters
use it; CONTRIBUTING.md maps the chapters to the modules they import.
"""

# pyproject.toml's version, repeated; tools/release.py checks that they agree.
__version__ = "0.4.1"
