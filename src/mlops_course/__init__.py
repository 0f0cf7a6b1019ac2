"""Helpers for the interactive MLOps course.

Modules (import them explicitly; importing has no side effects):

- ``mlops_course.data``: the credit-default case study generator and drift scenarios.
- ``mlops_course.modeling``: the course model, its metrics and business cost.
- ``mlops_course.workspace``: per-notebook scratch folders.
- ``mlops_course.servers``: start, health-check and always stop a server process.
- ``mlops_course.shell``: run DVC, MLflow, Feast and git commands from a notebook.
- ``mlops_course.pipeline``: the training pipeline as DVC stages, DVC project set-up.
- ``mlops_course.tracking``: a local MLflow server, data fingerprints, run tables.
- ``mlops_course.serialization``: ONNX export and inference of the course model.
- ``mlops_course.serving``: the FastAPI model service (app factory, ONNX engine).
- ``mlops_course.features``: Feast parquet sources and a loopback redis-server.
- ``mlops_course.serving.rollout_app``: A/B split, shadow and canary (chapter 12).
- ``mlops_course.manifests``: Kubernetes manifests checked against vendored schemas.
- ``mlops_course.experiments``: delayed outcomes and A/B readouts (chapter 12).
- ``mlops_course.loadtest``: a bounded loopback load generator for the service.
- ``mlops_course.containers``: the course's Dockerfile rules (hadolint lints).
- ``mlops_course.hygiene``: the notebook-output check used by a pre-commit hook.
"""

__version__ = "0.1.0"
