"""Helpers for the interactive MLOps course.

Modules (import them explicitly; importing has no side effects):

- ``mlops_course.data``: the credit-default case study generator and drift scenarios.
- ``mlops_course.modeling``: the course model, its metrics and business cost.
- ``mlops_course.workspace``: per-notebook scratch folders.
- ``mlops_course.servers``: start, health-check and always stop a server process.
- ``mlops_course.shell``: run DVC, MLflow, Feast and git commands from a notebook.
"""

__version__ = "0.1.0"
