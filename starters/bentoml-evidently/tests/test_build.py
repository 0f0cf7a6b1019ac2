"""`bentoml build` packs the service and the model offline; the image spec is there."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_bentofile_declares_the_service_and_a_container(trained):
    spec = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    assert spec["service"] == "service:CreditDefault"
    assert spec["docker"]["python_version"] == "3.11"


def test_bentoml_build_packs_service_and_model(trained, bento_home):
    tag, _ = trained
    bentoml = str(Path(sys.executable).parent / "bentoml")
    done = subprocess.run(
        [bentoml, "build", "--output", "tag"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    listed = subprocess.run(
        [bentoml, "list", "-o", "json"], capture_output=True, text=True, check=True
    )
    (bento,) = json.loads(listed.stdout)
    assert bento["tag"].startswith("credit_service:")
    built = next((bento_home / "bentos" / "credit_service").glob("*/bento.yaml"))
    manifest = yaml.safe_load(built.read_text())
    (service,) = manifest["services"]
    assert [m["tag"] for m in service["models"]] == [tag]  # the model ships inside
    assert (built.parent / "env" / "docker" / "Dockerfile").is_file()
