"""Write the Seldon Core manifest from the registry's aliases, and check it.

    python deploy/render.py deploy/seldon.yaml

`production` answers all traffic; while a version is `staging`, a shadow
predictor receives a copy of every request (its answers are logged, never
returned). Each predictor serves the registered version's artifacts with
Seldon's MLflow server. The manifest is checked offline against the
SeldonDeployment CRD schema and the rules Seldon's admission webhook adds.
"""

import sys
from pathlib import Path

import jsonschema
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_course.manifests import seldon_schema, seldon_webhook_problems

NAME = "credit-default"
TEMPLATE = Path(__file__).with_name("seldon.template.yaml")


def problems(manifest: dict) -> list[str]:
    """Schema errors and webhook rule violations (empty: Seldon would accept it)."""
    validator = jsonschema.Draft202012Validator(seldon_schema("v1"))
    found = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]
    return found + seldon_webhook_problems(manifest)


def render(client: MlflowClient) -> dict:
    """The manifest for the versions `production` and `staging` name now."""
    manifest = yaml.safe_load(TEMPLATE.read_text())
    production, shadow = manifest["spec"]["predictors"]
    version = client.get_model_version_by_alias(NAME, "production")
    production["graph"]["modelUri"] = version.source
    production["annotations"] = {"model-version": str(version.version)}
    try:
        staged = client.get_model_version_by_alias(NAME, "staging")
    except MlflowException:
        manifest["spec"]["predictors"] = [production]
        return manifest
    shadow["graph"]["modelUri"] = staged.source
    shadow["annotations"] = {"model-version": str(staged.version)}
    return manifest


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python deploy/render.py OUT.yaml", file=sys.stderr)
        return 2
    manifest = render(MlflowClient())
    found = problems(manifest)
    if found:
        print("manifest REFUSED:\n" + "\n".join(found), file=sys.stderr)
        return 1
    Path(argv[0]).write_text(yaml.safe_dump(manifest, sort_keys=False))
    names = [p["name"] for p in manifest["spec"]["predictors"]]
    print(f"wrote {argv[0]}: predictors {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
