"""Vendor one version of a CRD's OpenAPI schema into src/mlops_course/schemas.

Chapter 19 validates a KubeRay ``RayJob`` and a Kubeflow Trainer ``TrainJob``
offline against the schema the API server itself applies: the
``openAPIV3Schema`` of the CustomResourceDefinition. This tool reads the CRD
YAML (from a checkout of the upstream repository), keeps that one version's
schema, drops every ``description`` (the files shrink several-fold; the field
reference is upstream) and the ``status`` subtree (a client never writes it:
the status subresource ignores it on create), and writes compact JSON with a
``$comment`` naming the source repository, path, tag, commit and licence.

    python -m tools.vendor_crd CRD.yaml VERSION OUT.json --source "repo path tag commit"

The two vendored files (``mlops_course/schemas/*.crd.json``) were made with:

    git -C kuberay show v1.7.0:ray-operator/config/crd/bases/ray.io_rayjobs.yaml
    git -C trainer show v2.3.0:manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def strip_descriptions(node: Any) -> Any:
    """The schema without its ``description`` keys (the rules are unchanged)."""
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def crd_schema(crd: dict, version: str, source: str) -> dict:
    """The trimmed ``openAPIV3Schema`` of ``version``, with a ``$comment``."""
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = strip_descriptions(entry["schema"]["openAPIV3Schema"])
    schema["properties"].pop("status", None)
    kind = crd["spec"]["names"]["kind"]
    group = crd["spec"]["group"]
    comment = (
        f"The openAPIV3Schema of the {kind} ({group}/{version}) CRD"
        f" from {source} (Apache-2.0), vendored by tools/vendor_crd.py for chapter 19:"
        " descriptions and the status subtree removed, nothing else changed."
    )
    return {"$comment": comment, "title": f"{kind} ({group}/{version})", **schema}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=Path)
    parser.add_argument("version")
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", required=True, help="repo, path, tag and commit")
    args = parser.parse_args(argv)
    crd = yaml.safe_load(args.crd.read_text(encoding="utf-8"))
    schema = crd_schema(crd, args.version, args.source)
    args.out.write_text(json.dumps(schema, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
