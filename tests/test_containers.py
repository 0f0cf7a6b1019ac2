"""Course Dockerfile rules, hadolint, build cache, image contents (chapter 6)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlops_course import containers as c
from mlops_course.shell import run
from mlops_course.workspace import course_root

ROOT = course_root()
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
IGNORE = (ROOT / ".dockerignore").read_text()

#: A Dockerfile that follows every rule; each bad variant below breaks exactly one.
GOOD = """\
# syntax=docker/dockerfile:1
FROM python:3.11.7-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock ./
RUN pip install -c requirements.lock fastapi uvicorn
COPY src/ src/
RUN pip install --no-deps .

FROM python:3.11.7-slim-bookworm
RUN useradd --uid 10001 app
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
USER 10001
EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/ready')"]
CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]
"""

SINGLE_STAGE = """\
FROM python:3.11.7-slim-bookworm
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY src/ src/
USER 10001
CMD ["python", "-m", "app"]
"""

BAD_VARIANTS = {
    "base-not-pinned": [
        ("FROM python:3.11.7-slim-bookworm AS builder", "FROM python AS builder"),
        ("FROM python:3.11.7-slim-bookworm\n", "FROM python:3.11-slim\n"),
    ],
    "single-stage": None,  # SINGLE_STAGE above
    "runs-as-root": [("USER 10001\n", ""), ("USER 10001\n", "USER root\n")],
    "no-readiness-check": [
        ("HEALTHCHECK CMD", "# HEALTHCHECK CMD"),
        ("8000/ready", "8000/health"),
    ],
}

#: Paths of a course checkout that no image should receive, and paths the images copy.
MUST_IGNORE = [
    ".git/HEAD",
    ".venv/bin/python",
    ".workspace/02_data_versioning/params.yaml",
    "_build/html/index.html",
    ".env",
    "model.pkl",
    "models/model.joblib",
    "artifacts/model.onnx",
    "registry.db",
    "data/applications.parquet",
    "mlruns/0/meta.yaml",
    "notebooks/.ipynb_checkpoints/x.ipynb",
    "src/mlops_course/__pycache__/data.cpython-311.pyc",
]
MUST_KEEP = [
    "requirements.lock",
    "pyproject.toml",
    "README.md",
    "src/mlops_course/x.py",
]


def mutate(text: str, edits) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


# --- the course's images ------------------------------------------------------------


def test_the_course_has_its_two_dockerfiles():
    assert [p.name for p in DOCKERFILES] == ["serve.Dockerfile", "train.Dockerfile"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_course_dockerfiles_pass_the_course_rules(path):
    assert c.check_dockerfile(path.read_text()) == []


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_course_dockerfiles_pass_hadolint(path):
    done = run(["hadolint", "--no-color", path], check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_finds_what_the_course_rules_leave_to_it(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text(
        "FROM python:latest\nENV API_TOKEN=abc\nRUN pip install fastapi\n"
        "CMD uvicorn app:app\n"
    )
    done = run(["hadolint", "--no-color", "-f", "json", path], check=False)
    assert done.returncode == 1
    codes = {f["code"] for f in json.loads(done.stdout)}
    # latest tag, secret in ENV, pip cache, unpinned pip package, shell-form CMD
    assert {"DL3007", "DL3064", "DL3042", "DL3013", "DL3025"} <= codes


def test_serving_image_is_a_ready_checked_service_and_training_image_is_not():
    serve = c.parse_dockerfile((ROOT / "docker" / "serve.Dockerfile").read_text())
    train = (ROOT / "docker" / "train.Dockerfile").read_text()
    assert c.is_service(serve) and not c.is_service(train)
    final = {i.keyword: i for i in serve.final.instructions}
    assert "/ready" in final["HEALTHCHECK"].value
    command = final["CMD"].exec_form
    assert command[:2] == ["uvicorn", "mlops_course.serving:app_from_env"]
    assert command[-4:] == ["--host", "0.0.0.0", "--port", "8000"]


def test_the_course_dockerignore_keeps_out_state_and_keeps_build_inputs():
    assert [p for p in MUST_IGNORE if not c.is_ignored(p, IGNORE)] == []
    assert [p for p in MUST_KEEP if c.is_ignored(p, IGNORE)] == []


# --- the course rules ----------------------------------------------------------------


def test_good_example_passes():
    assert c.check_dockerfile(GOOD) == []


@pytest.mark.parametrize("rule", sorted(BAD_VARIANTS))
def test_each_rule_can_fail(rule):
    edits = BAD_VARIANTS[rule]
    variants = [SINGLE_STAGE] if edits is None else [mutate(GOOD, [e]) for e in edits]
    for text in variants:
        assert rules(c.check_dockerfile(text)) == {rule}


def test_every_rule_is_documented_and_tested():
    assert set(BAD_VARIANTS) == set(c.RULES)


@pytest.mark.parametrize(
    ("base", "bad"),
    [
        ("python", True),
        ("python:latest", True),
        ("python:3.11-slim", True),
        ("python:3", True),
        ("docker.io/library/python:3.11.7-slim-bookworm", False),
        ("registry.local:5000/python:3.11.7-slim", False),
        ("registry.local:5000/python", True),
        ("python@sha256:" + "a" * 64, False),
        ("python:3.11.16-slim-bookworm@sha256:" + "b" * 64, False),
        ("docker.io/library/python:3.11-slim@sha256:" + "c" * 64, False),
        ("python:3.11-slim@sha256:" + "c" * 63, True),  # not a whole digest
        ("nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04", False),
        ("scratch", False),
    ],
)
def test_base_image_pinning(base, bad):
    text = f"FROM {base} AS b\nFROM b\nUSER 1\n"
    assert ("base-not-pinned" in rules(c.check_dockerfile(text))) is bad


def test_base_image_from_global_arg_is_resolved():
    pinned = "ARG PY=3.11.7-slim-bookworm\nFROM python:${PY} AS a\nFROM a\nUSER 1\n"
    floating = "ARG PY=3.11\nFROM python:$PY AS a\nFROM a\nUSER 1\n"
    unknown = "ARG PY\nFROM python:$PY AS a\nFROM a\nUSER 1\n"
    assert c.check_dockerfile(pinned) == []
    assert "base-not-pinned" in rules(c.check_dockerfile(floating))
    assert "base-not-pinned" in rules(c.check_dockerfile(unknown))


def test_root_user_is_caught_even_after_a_non_root_one():
    text = GOOD.replace("USER 10001\n", "USER 10001\nUSER 0:0\n")
    (finding,) = c.check_dockerfile(text)
    assert finding.rule == "runs-as-root"
    assert finding.line == text.splitlines().index("USER 0:0") + 1


def test_healthcheck_none_fails_and_a_batch_image_needs_none():
    text = GOOD.replace("HEALTHCHECK CMD", "HEALTHCHECK NONE\n# CMD")
    assert rules(c.check_dockerfile(text)) == {"no-readiness-check"}
    batch = 'FROM python:3.11.7-slim AS a\nFROM a\nUSER 1\nCMD ["python", "job.py"]\n'
    assert c.check_dockerfile(batch) == []
    assert rules(c.check_dockerfile(batch, service=True)) == {"no-readiness-check"}


def test_messages_are_whole_sentences():
    findings = c.check_dockerfile("FROM python:3.11\nEXPOSE 8000\n")
    assert rules(findings) == set(c.RULES)
    for finding in findings:
        assert finding.message.endswith("."), finding
        assert str(finding).startswith(f"{finding.line}: {finding.rule}: ")


def test_parser_handles_continuations_comments_flags_and_exec_form():
    text = """\
# syntax=docker/dockerfile:1
# escape=\\
FROM python:3.11.7-slim-bookworm AS base
RUN apt-get update \\
    # a comment inside the continued instruction
    && apt-get install -y git \\

    && rm -rf /var/lib/apt/lists/*
COPY --from=base --chown=1:1 /a /b
cmd ["python"]
"""
    parsed = c.parse_dockerfile(text)
    kinds = [(i.keyword, i.line) for i in parsed.instructions]
    assert kinds == [("FROM", 3), ("RUN", 4), ("COPY", 9), ("CMD", 10)]
    assert parsed.instructions[1].value == (
        "apt-get update && apt-get install -y git && rm -rf /var/lib/apt/lists/*"
    )
    assert parsed.instructions[2].flags == {"from": "base", "chown": "1:1"}
    assert parsed.instructions[3].exec_form == ["python"]
    assert [s.name for s in parsed.stages] == ["base"]


def test_backtick_escape_directive():
    text = (
        "# escape=`\nFROM mcr.microsoft.com/windows/servercore:10.0.20348.1 AS a\n"
        "RUN dir `\n    C:\\\\data\nFROM a\nUSER app\n"
    )
    parsed = c.parse_dockerfile(text)
    assert parsed.instructions[1].value == "dir C:\\\\data"
    assert c.check_dockerfile(parsed) == []


def test_no_from_is_reported():
    assert rules(c.check_dockerfile("RUN echo hi\n")) == {"base-not-pinned"}


def test_command_line_reports_findings(tmp_path, capsys):
    bad, good = tmp_path / "bad.Dockerfile", tmp_path / "good.Dockerfile"
    bad.write_text(SINGLE_STAGE.replace("USER 10001\n", ""))
    good.write_text(GOOD)
    assert c.main([str(good)]) == 0
    assert capsys.readouterr().out == ""
    assert c.main([str(bad), str(good)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1] for line in out] == ["runs-as-root", "single-stage"]


# --- .dockerignore and the build cache -----------------------------------------------


def test_dockerignore_patterns_follow_docker_semantics():
    ignore = "*.pkl\n**/*.onnx\nmodels\n!models/README.md\n/data/\n"
    assert c.is_ignored("model.pkl", ignore)
    assert not c.is_ignored("sub/model.pkl", ignore)  # `*` does not cross folders
    assert c.is_ignored("a/b/model.onnx", ignore) and c.is_ignored("model.onnx", ignore)
    assert c.is_ignored("models/m.joblib", ignore)
    assert not c.is_ignored("models/README.md", ignore)  # exception re-includes it
    assert c.is_ignored("data/x.csv", ignore)
    assert not c.is_ignored("src/mlops_course/data.py", ignore)


def test_code_change_reuses_the_dependency_layer():
    serve = (ROOT / "docker" / "serve.Dockerfile").read_text()
    plan = c.rebuild_plan(
        serve, ["src/mlops_course/serving/app.py"], dockerignore=IGNORE
    )
    by_step = {r["step"]: r["status"] for r in plan}
    install = next(s for s in by_step if s.startswith("RUN pip install -c"))
    assert by_step[install] == "cached"
    assert by_step["COPY src/ src/"] == "rebuilt"
    assert by_step["COPY --from=builder /opt/venv /opt/venv"] == "rebuilt"
    lock_plan = c.rebuild_plan(serve, ["requirements.lock"], dockerignore=IGNORE)
    assert {r["step"]: r["status"] for r in lock_plan}[install] == "rebuilt"


def test_ignored_files_rebuild_nothing_and_bad_order_reinstalls():
    serve = (ROOT / "docker" / "serve.Dockerfile").read_text()
    plan = c.rebuild_plan(
        serve, ["notebooks/01_notebook_model.ipynb"], dockerignore=IGNORE
    )
    assert {r["status"] for r in plan} == {"cached"}
    bad = "FROM python:3.11.7-slim\nCOPY . .\nRUN pip install -r requirements.lock\n"
    statuses = [r["status"] for r in c.rebuild_plan(bad, ["src/app.py"])]
    assert statuses == ["cached", "rebuilt", "rebuilt"]


# --- what the images install ---------------------------------------------------------


def test_pip_installs_are_parsed():
    (deps, package) = c.pip_installs((ROOT / "docker" / "train.Dockerfile").read_text())
    assert deps.constraints == ("requirements.lock",)
    assert "scikit-learn" in deps.packages
    assert package.local == (".",) and package.options == ("--no-deps",)
    (single,) = c.pip_installs(
        "FROM a\nRUN pip install -q -r req.txt -i http://x y==1 && ls\n"
    )
    assert single.packages == ("y==1",)
    assert single.options == ("-q", "-r req.txt", "-i http://x")


def test_lock_pins_every_package_the_images_install():
    pinned = set(c.lock_names((ROOT / "requirements.lock").read_text()))
    for path in DOCKERFILES:
        for install in c.pip_installs(path.read_text()):
            assert install.constraints == () or install.constraints == (
                "requirements.lock",
            )
            missing = {c.canonical(p) for p in install.packages} - pinned
            assert not missing, f"{path.name} installs unpinned packages: {missing}"


def test_dependency_closure_and_sizes():
    closure = c.dependency_closure(["pandas"])
    assert {"pandas", "numpy", "python-dateutil", "six"} <= closure
    assert "pytest" not in closure  # extras are not followed
    assert c.installed_size("numpy") > 10 * 2**20
    assert c.installed_size("no-such-distribution") == 0


# Imports ``sys.argv[2:]`` while refusing every module whose distributions are not in
# the JSON list ``sys.argv[1]``: the image's packages, simulated in this environment.
_IMPORT_IN_IMAGE = """
import importlib, importlib.machinery, json, re, sys
from importlib.metadata import packages_distributions
allowed = set(json.loads(sys.argv[1]))
owners = packages_distributions()

class ImagePathFinder(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        top = name.split(".")[0]
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(top, [])}
        if dists and not dists & allowed:
            return None  # as if it were not installed
        return super().find_spec(name, path, target)

sys.meta_path = [
    ImagePathFinder if f is importlib.machinery.PathFinder else f
    for f in sys.meta_path
]
for name in sys.argv[2:]:
    importlib.import_module(name)
"""


def _import_in_image(distributions: set[str], *modules: str):
    allowed = json.dumps(sorted(distributions | {"mlops-course"}))
    return subprocess.run(
        [sys.executable, "-c", _IMPORT_IN_IMAGE, allowed, *modules],
        capture_output=True,
        text=True,
    )


def _image_distributions(dockerfile: str) -> set[str]:
    (deps, _) = c.pip_installs((ROOT / "docker" / dockerfile).read_text())
    return c.dependency_closure(deps.packages)


@pytest.mark.parametrize(
    ("dockerfile", "entry_modules"),
    [
        ("train.Dockerfile", ["mlops_course.pipeline"]),
        # the service, and what it imports to load a registry model (models:/...)
        ("serve.Dockerfile", ["mlops_course.serving", "mlflow.sklearn", "skops.io"]),
    ],
)
@pytest.mark.slow
def test_each_image_installs_what_its_entry_point_imports(dockerfile, entry_modules):
    done = _import_in_image(_image_distributions(dockerfile), *entry_modules)
    assert done.returncode == 0, f"{dockerfile} misses a package:\n{done.stderr}"


def test_an_image_without_a_package_it_imports_fails_the_check():
    without = _image_distributions("serve.Dockerfile") - {"fastapi"}
    done = _import_in_image(without, "mlops_course.serving")
    assert done.returncode != 0
    assert "No module named 'fastapi'" in done.stderr
