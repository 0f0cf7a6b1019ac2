"""Helpers for the interactive MLOps course.

Import the modules explicitly (``from mlops_course import data``); importing has
no side effects. Each module's docstring says what it holds and which chapters
use it; CONTRIBUTING.md maps the chapters to the modules they import.
"""

__version__ = "0.1.0"
