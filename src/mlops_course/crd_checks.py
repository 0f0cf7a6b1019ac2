"""Training-job custom resources checked offline as the API server checks them (ch. 19).

Chapter 19 writes a KubeRay ``RayJob`` and a Kubeflow Trainer v2 ``TrainJob``.
The API server validates a custom resource against its CRD's
``openAPIV3Schema``; the two schemas are vendored in ``mlops_course/schemas/``
(``*.crd.json``, made by ``tools/vendor_crd.py``: source, tag, commit and
licence in each file's ``$comment``) and read with
:func:`mlops_course.manifests.vendored_schema`.

A CRD schema leaves ``additionalProperties`` open: by JSON-schema rules a
misspelt field is simply allowed. The API server is stricter: with the field
validation ``kubectl`` asks for by default (``--validate=strict``) it refuses a
field the schema does not declare, unless the node says
``x-kubernetes-preserve-unknown-fields``. :func:`strict` makes the schema say
so, and :func:`api_server_errors` validates against that.

What the schema check still cannot see, :func:`unchecked_rules` lists: the CEL
rules (``x-kubernetes-validations``) the API server evaluates itself. The
operators' own checks (KubeRay's ``ValidateRayJobSpec``, Trainer's webhook)
and the cluster (quotas, missing runtimes, nodes with GPUs) come after that.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mlops_course import manifests

#: The vendored CRD schema of each kind chapter 19 writes.
CRD_SCHEMAS = {
    "RayJob": "ray.io_rayjobs-v1.crd.json",
    "TrainJob": "trainer.kubeflow.org_trainjobs-v1alpha1.crd.json",
}


def crd_schema(kind: str) -> dict[str, Any]:
    """The vendored ``openAPIV3Schema`` of ``kind`` (``RayJob`` or ``TrainJob``)."""
    if kind not in CRD_SCHEMAS:
        raise ValueError(
            f"no vendored CRD schema for {kind!r}; have {sorted(CRD_SCHEMAS)}"
        )
    return manifests.vendored_schema(CRD_SCHEMAS[kind])


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that refuses undeclared fields, as strict validation does.

    Every object node that declares ``properties`` and neither preserves unknown
    fields nor says what its other keys hold gets ``additionalProperties: false``.
    """

    def tighten(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for key, value in node.items():
                if key == "properties":  # field names, not keywords
                    for sub in value.values():
                        tighten(sub)
                else:
                    tighten(value)
        elif isinstance(node, list):
            for item in node:
                tighten(item)

    tightened = copy.deepcopy(dict(schema))
    tighten(tightened)
    return tightened


def api_server_errors(manifest: Mapping[str, Any]) -> list[str]:
    """What the API server's schema check refuses in ``manifest`` (by its ``kind``)."""
    kind = manifest.get("kind")
    if kind not in CRD_SCHEMAS:
        return [f"kind: {kind!r} is not one of {sorted(CRD_SCHEMAS)}"]
    return manifests.schema_errors(manifest, strict(crd_schema(kind)))


def unchecked_rules(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The CEL rules in ``schema`` as (path, message): the API server checks them."""
    found = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for rule in node.get("x-kubernetes-validations", []):
                found.append((path or "(root)", rule.get("message", rule["rule"])))
            for key, value in node.items():
                if key == "properties":
                    for name, sub in value.items():
                        walk(sub, f"{path}.{name}" if path else name)
                elif key == "items":
                    walk(value, f"{path}[]")
                elif (
                    isinstance(value, dict | list) and key != "x-kubernetes-validations"
                ):
                    walk(value, path)
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(schema, "")
    return found


__all__ = [
    "CRD_SCHEMAS",
    "api_server_errors",
    "crd_schema",
    "strict",
    "unchecked_rules",
]
