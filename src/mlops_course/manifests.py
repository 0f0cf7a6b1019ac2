"""Kubernetes manifests checked offline, as the cluster would check them.

The API server validates a custom resource against the OpenAPI schema of its
CustomResourceDefinition; admission webhooks then add rules a schema cannot
say. No cluster runs in the course, so the schemas are vendored in
``mlops_course/schemas/`` (each with a ``$comment`` naming its source) and
checked with ``jsonschema``:

- generic: :func:`vendored_schema` loads one, :func:`schema_errors` lists what a
  manifest breaks (``path: message``), for any resource with a vendored schema;
- Seldon Core (chapter 12): :func:`seldon_schema` names its schemas (v1
  ``SeldonDeployment``; v2 Seldon Core 2 ``Model`` and ``Experiment``) and
  :func:`seldon_webhook_problems` re-states the traffic rules of its webhook.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, Literal

from jsonschema.validators import validator_for

#: The package folder holding the vendored schemas.
SCHEMA_DIR = "schemas"


def vendored_schemas() -> list[str]:
    """File names of the vendored schemas."""
    folder = resources.files("mlops_course").joinpath(SCHEMA_DIR)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))


def vendored_schema(name: str) -> dict[str, Any]:
    """The vendored JSON schema in ``mlops_course/schemas/<name>``."""
    if name not in vendored_schemas():
        raise ValueError(f"no vendored schema {name!r}; have {vendored_schemas()}")
    path = resources.files("mlops_course").joinpath(SCHEMA_DIR, name)
    return json.loads(path.read_text(encoding="utf-8"))


def schema_errors(document: Any, schema: Mapping[str, Any]) -> list[str]:
    """What ``document`` breaks in ``schema``, one ``path: message`` each, sorted.

    The validator is the one for the schema's ``$schema`` draft (the newest
    draft when it names none, as a CRD's ``openAPIV3Schema`` does); the path is
    dotted (``spec.predictors.0.traffic``), ``(root)`` for the document itself.
    """
    validator = validator_for(schema)(schema)
    return sorted(
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(document)
    )


# ---------------------------------------------------------------------- Seldon Core
SELDON_SCHEMAS = {
    "v1": "seldondeployment-v1.schema.json",  # SeldonDeployment
    "v2": "seldon-core-v2.schema.json",  # Seldon Core 2: Model and Experiment
}


def seldon_schema(version: Literal["v1", "v2"] = "v1") -> dict[str, Any]:
    """A vendored schema: v1 SeldonDeployment, or Core 2 Model and Experiment."""
    if version not in SELDON_SCHEMAS:
        raise ValueError(f"version must be one of {sorted(SELDON_SCHEMAS)}")
    return vendored_schema(SELDON_SCHEMAS[version])


def seldon_webhook_problems(manifest: Mapping[str, Any]) -> list[str]:
    """The traffic rules Seldon's admission webhook adds to the schema, as messages.

    Mirrors ``checkTraffic``, ``validateShadow`` and the duplicate-name check of
    Seldon Core v1's operator (``seldondeployment_webhook.go``): at most one
    shadow, which cannot stand alone; the traffic of the predictors that are not
    shadows sums to 100 when there are several; names are unique.
    """
    predictors = list(manifest.get("spec", {}).get("predictors", []))
    problems = []
    shadows = [p for p in predictors if p.get("shadow")]
    served = [p for p in predictors if not p.get("shadow")]
    if len(shadows) > 1:
        problems.append("Multiple shadows are not allowed")
    if len(predictors) == 1 and shadows:
        problems.append("Shadow can not exist as only predictor")
    # a traffic that is not an integer is the schema's error, not counted here
    total = sum(t for p in served if isinstance(t := p.get("traffic", 0), int))
    if len(served) > 1 and total != 100:
        problems.append(
            f"Traffic must sum to 100 for multiple predictors (got {total})"
        )
    names = [p.get("name") for p in predictors]
    problems += [
        f"Duplicate predictor name {n!r}"
        for n in sorted(set(names))
        if names.count(n) > 1
    ]
    return problems


__all__ = [
    "SCHEMA_DIR",
    "SELDON_SCHEMAS",
    "schema_errors",
    "seldon_schema",
    "seldon_webhook_problems",
    "vendored_schema",
    "vendored_schemas",
]
