"""Dockerfile parsing and checking, build-cache reasoning, image contents (chapter 6)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlops_course import containers as c
from mlops_course.workspace import course_root

ROOT = course_root()
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
IGNORE = (ROOT / ".dockerignore").read_text()

#: A small Dockerfile that follows every rule; each bad variant below breaks exactly one.
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
HEALTHCHECK CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health')"]
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
    ],
    "single-stage": None,  # SINGLE_STAGE above
    "runs-as-root": [("USER 10001\n", "")],
    "no-healthcheck": [("HEALTHCHECK CMD", "# HEALTHCHECK CMD")],
    "no-expose": [("EXPOSE 8000\n", "")],
    "secret-in-build": [
        ("ENV PIP_NO_CACHE_DIR=1", "ENV PIP_NO_CACHE_DIR=1 HF_TOKEN=hf_abc")
    ],
    "add-remote-url": [
        (
            "COPY src/ src/",
            "ADD https://example.com/model.onnx /models/\nCOPY src/ src/",
        )
    ],
    "copy-unfiltered-context": [("COPY src/ src/", "COPY . .")],
    "cache-order": [
        ("COPY requirements.lock ./\n", ""),
        ("COPY src/ src/\n", ""),
        ("ENV PATH=/opt/venv/bin:$PATH\n", "ENV PATH=/opt/venv/bin:$PATH\nCOPY . .\n"),
    ],
    "pip-cache-kept": [
        (
            "RUN useradd --uid 10001 app",
            "RUN useradd --uid 10001 app && pip install gunicorn",
        ),
    ],
    "apt-lists-kept": [
        (
            "RUN useradd --uid 10001 app",
            "RUN apt-get update && apt-get install -y --no-install-recommends git",
        ),
    ],
    "shell-form-command": [
        (
            'CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]',
            "CMD uvicorn app:app --host 0.0.0.0 --port 8000",
        ),
    ],
}


def mutate(text: str, edits) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_course_dockerfiles_pass(path):
    assert len(DOCKERFILES) == 2
    findings = c.check_dockerfile(path.read_text(), dockerignore=IGNORE)
    assert findings == []


def test_serving_image_is_a_service_and_training_image_is_not():
    serve = (ROOT / "docker" / "serve.Dockerfile").read_text()
    train = (ROOT / "docker" / "train.Dockerfile").read_text()
    assert c.is_service(serve) and not c.is_service(train)
    command = c.parse_dockerfile(serve).final.instructions[-1]
    assert command.keyword == "CMD" and command.exec_form[:2] == [
        "uvicorn",
        "mlops_course.serving:app_from_env",
    ]
    assert command.exec_form[-4:] == ["--host", "0.0.0.0", "--port", "8000"]


def test_the_course_dockerignore_passes_and_keeps_build_inputs():
    assert c.check_dockerignore(IGNORE) == []
    for path in c.MUST_KEEP:
        assert not c.is_ignored(path, IGNORE)


def test_good_example_passes():
    assert c.check_dockerfile(GOOD, dockerignore=IGNORE) == []


@pytest.mark.parametrize("rule", sorted(BAD_VARIANTS))
def test_each_rule_can_fail(rule):
    edits = BAD_VARIANTS[rule]
    variants = [SINGLE_STAGE] if edits is None else [mutate(GOOD, [e]) for e in edits]
    if rule == "cache-order":
        variants = [mutate(GOOD, edits)]
    for text in variants:
        ignore = None if rule == "copy-unfiltered-context" else IGNORE
        found = rules(c.check_dockerfile(text, dockerignore=ignore))
        assert rule in found, (rule, found)
        assert found <= {rule, "cache-order"}, found


def test_every_rule_is_documented_and_tested():
    tested = set(BAD_VARIANTS) | {"dockerignore-misses", "dockerignore-drops-input"}
    assert tested == set(c.RULES)


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
    (finding,) = c.check_dockerfile(text, dockerignore=IGNORE)
    assert finding.rule == "runs-as-root"
    assert finding.line == text.splitlines().index("USER 0:0") + 1


def test_healthcheck_none_counts_as_missing_and_service_can_be_forced():
    text = GOOD.replace("HEALTHCHECK CMD", "HEALTHCHECK NONE\n# CMD")
    assert "no-healthcheck" in rules(c.check_dockerfile(text, dockerignore=IGNORE))
    batch = 'FROM python:3.11.7-slim AS a\nFROM a\nUSER 1\nCMD ["python", "job.py"]\n'
    assert c.check_dockerfile(batch) == []
    assert {"no-healthcheck", "no-expose"} <= rules(
        c.check_dockerfile(batch, service=True)
    )


def test_secret_names_in_env_and_arg_forms():
    for line in [
        "ENV AWS_SECRET_ACCESS_KEY=x",
        "ENV API_KEY value with spaces",
        "ARG GITHUB_TOKEN",
        "ARG DB_PASSWORD=hunter2",
        "ENV A=1 MLFLOW_PASSWD=2",
    ]:
        text = GOOD.replace("ENV PIP_NO_CACHE_DIR=1", f"ENV PIP_NO_CACHE_DIR=1\n{line}")
        assert rules(c.check_dockerfile(text, dockerignore=IGNORE)) == {
            "secret-in-build"
        }, line


def test_add_of_url_with_checksum_is_accepted():
    text = GOOD.replace(
        "COPY src/ src/",
        "ADD --checksum=sha256:"
        + "b" * 64
        + " https://example.com/x.tar.gz /x/\nCOPY src/ src/",
    )
    assert c.check_dockerfile(text, dockerignore=IGNORE) == []


def test_parser_handles_continuations_comments_heredocs_and_directives():
    text = """\
# syntax=docker/dockerfile:1
# escape=\\
FROM python:3.11.7-slim-bookworm AS base
RUN apt-get update \\
    # a comment inside the continued instruction
    && apt-get install -y git \\

    && rm -rf /var/lib/apt/lists/*
COPY --from=base --chown=1:1 /a /b
RUN <<EOF
pip install --no-cache-dir numpy
EOF
cmd ["python"]
"""
    parsed = c.parse_dockerfile(text)
    assert parsed.directives == {"syntax": "docker/dockerfile:1", "escape": "\\"}
    kinds = [(i.keyword, i.line) for i in parsed.instructions]
    assert kinds == [("FROM", 3), ("RUN", 4), ("COPY", 9), ("RUN", 10), ("CMD", 13)]
    run = parsed.instructions[1]
    assert run.value == (
        "apt-get update && apt-get install -y git && rm -rf /var/lib/apt/lists/*"
    )
    assert run.end_line == 8
    assert parsed.instructions[2].flags == {"from": "base", "chown": "1:1"}
    assert parsed.instructions[3].heredocs == ("pip install --no-cache-dir numpy",)
    assert parsed.instructions[4].exec_form == ["python"]
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


# --- .dockerignore ----------------------------------------------------------------------


def test_dockerignore_patterns_follow_docker_semantics():
    ignore = "*.pkl\n**/*.onnx\nmodels\n!models/README.md\n/data/\n"
    assert c.is_ignored("model.pkl", ignore)
    assert not c.is_ignored("sub/model.pkl", ignore)  # `*` does not cross folders
    assert c.is_ignored("a/b/model.onnx", ignore) and c.is_ignored("model.onnx", ignore)
    assert c.is_ignored("models/m.joblib", ignore)
    assert not c.is_ignored("models/README.md", ignore)  # exception re-includes it
    assert c.is_ignored("data/x.csv", ignore)
    assert not c.is_ignored("src/mlops_course/data.py", ignore)


def test_dockerignore_rules_can_fail():
    missing = c.check_dockerignore("*.pkl\n")
    assert {f.rule for f in missing} == {"dockerignore-misses"}
    assert any("models/model.joblib" in f.message for f in missing)
    too_much = c.check_dockerignore(IGNORE + "\nsrc\n")
    assert {f.rule for f in too_much} == {"dockerignore-drops-input"}


# --- build cache ------------------------------------------------------------------------


def _statuses(text, changed, ignore=IGNORE):
    return {
        (r["line"], r["step"].split()[0]): r["status"]
        for r in c.rebuild_plan(text, changed, dockerignore=ignore)
    }


def test_code_change_reuses_the_dependency_layer():
    serve = (ROOT / "docker" / "serve.Dockerfile").read_text()
    plan = c.rebuild_plan(serve, ["src/mlops_course/serving.py"], dockerignore=IGNORE)
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


def test_explain_marks_layers_and_metadata():
    rows = c.explain(GOOD)
    kinds = {r["instruction"].split()[0]: r["kind"] for r in rows}
    assert kinds["RUN"] == kinds["COPY"] == "layer"
    assert kinds["ENV"] == kinds["USER"] == kinds["CMD"] == "metadata"
    assert [r["stage"] for r in rows].count("builder") == 8


# --- what the images install ------------------------------------------------------------


def test_pip_installs_are_parsed():
    (deps, package) = c.pip_installs((ROOT / "docker" / "train.Dockerfile").read_text())
    assert (
        deps.constraints == ("requirements.lock",) and "scikit-learn" in deps.packages
    )
    assert package.local == (".",) and package.options == ("--no-deps",)
    (single,) = c.pip_installs(
        "FROM a\nRUN pip install -q -r req.txt -i http://x y==1 && ls\n"
    )
    assert single.requirements == ("req.txt",) and single.packages == ("y==1",)
    assert single.options == ("-q", "-i http://x")


def test_lock_pins_every_package_the_images_install():
    pinned = set(c.lock_names((ROOT / "requirements.lock").read_text()))
    for path in DOCKERFILES:
        for install in c.pip_installs(path.read_text()):
            missing = {c._requirement_name(p) for p in install.packages} - pinned
            assert not missing, (
                f"{path.name} installs packages the lock does not pin: {missing}"
            )


def test_dependency_closure_and_sizes():
    closure = c.dependency_closure(["pandas"])
    assert {"pandas", "numpy", "python-dateutil", "six"} <= closure
    assert "pytest" not in closure  # extras are not followed
    assert c.installed_size("numpy") > 10 * 2**20
    assert c.installed_size("no-such-distribution") == 0


_IMPORTED = """
import importlib, json, sys
from importlib.metadata import packages_distributions
for name in sys.argv[1:]:
    importlib.import_module(name)
owners = packages_distributions()
tops = {m.split(".")[0] for m in list(sys.modules)}
print(json.dumps(sorted({d for t in tops for d in owners.get(t, [])})))
"""


def _distributions_imported(*modules: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED, *modules],
        capture_output=True,
        text=True,
        check=True,
    )
    return {c._canonical(d) for d in json.loads(done.stdout)}


@pytest.mark.parametrize(
    ("dockerfile", "entry_module"),
    [
        ("train.Dockerfile", "mlops_course.pipeline"),
        ("serve.Dockerfile", "mlops_course.serving"),
    ],
)
def test_each_image_installs_what_its_entry_point_imports(dockerfile, entry_module):
    (deps, _) = c.pip_installs((ROOT / "docker" / dockerfile).read_text())
    installed = c.dependency_closure(deps.packages)
    import_names = {"scikit-learn": "sklearn", "pyyaml": "yaml"}
    # Optional imports the listed packages make when something happens to be installed
    # (pandas tries pyarrow, for example) are not requirements of the entry point.
    optional = _distributions_imported(*(import_names.get(p, p) for p in deps.packages))
    needed = _distributions_imported(entry_module) - {"mlops-course"}
    missing = needed - installed - optional
    assert not missing, (
        f"{dockerfile} must also install {sorted(missing)} for {entry_module}"
    )
