"""Course Dockerfile rules, the parser, the hook's command line and hadolint (ch. 6)."""

from __future__ import annotations

import json

import pytest

from mlops_course.dockerfiles import (
    RULES,
    check_dockerfile,
    is_service,
    main,
    parse_dockerfile,
)
from mlops_course.shell import run
from mlops_course.workspace import course_root

ROOT = course_root()
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))

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
    assert check_dockerfile(path.read_text()) == []


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
    serve = parse_dockerfile((ROOT / "docker" / "serve.Dockerfile").read_text())
    train = (ROOT / "docker" / "train.Dockerfile").read_text()
    assert is_service(serve) and not is_service(train)
    final = {i.keyword: i for i in serve.final.instructions}
    assert "/ready" in final["HEALTHCHECK"].value
    command = final["CMD"].exec_form
    assert command[:2] == ["uvicorn", "mlops_course.serving:app_from_env"]
    assert command[-4:] == ["--host", "0.0.0.0", "--port", "8000"]


# --- the course rules ----------------------------------------------------------------


def test_good_example_passes():
    assert check_dockerfile(GOOD) == []


@pytest.mark.parametrize("rule", sorted(BAD_VARIANTS))
def test_each_rule_can_fail(rule):
    edits = BAD_VARIANTS[rule]
    variants = [SINGLE_STAGE] if edits is None else [mutate(GOOD, [e]) for e in edits]
    for text in variants:
        assert rules(check_dockerfile(text)) == {rule}


def test_every_rule_is_documented_and_tested():
    assert set(BAD_VARIANTS) == set(RULES)


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
    assert ("base-not-pinned" in rules(check_dockerfile(text))) is bad


def test_base_image_from_global_arg_is_resolved():
    pinned = "ARG PY=3.11.7-slim-bookworm\nFROM python:${PY} AS a\nFROM a\nUSER 1\n"
    floating = "ARG PY=3.11\nFROM python:$PY AS a\nFROM a\nUSER 1\n"
    unknown = "ARG PY\nFROM python:$PY AS a\nFROM a\nUSER 1\n"
    assert check_dockerfile(pinned) == []
    assert "base-not-pinned" in rules(check_dockerfile(floating))
    assert "base-not-pinned" in rules(check_dockerfile(unknown))


def test_root_user_is_caught_even_after_a_non_root_one():
    text = GOOD.replace("USER 10001\n", "USER 10001\nUSER 0:0\n")
    (finding,) = check_dockerfile(text)
    assert finding.rule == "runs-as-root"
    assert finding.line == text.splitlines().index("USER 0:0") + 1


def test_healthcheck_none_fails_and_a_batch_image_needs_none():
    text = GOOD.replace("HEALTHCHECK CMD", "HEALTHCHECK NONE\n# CMD")
    assert rules(check_dockerfile(text)) == {"no-readiness-check"}
    batch = 'FROM python:3.11.7-slim AS a\nFROM a\nUSER 1\nCMD ["python", "job.py"]\n'
    assert check_dockerfile(batch) == []
    assert rules(check_dockerfile(batch, service=True)) == {"no-readiness-check"}


def test_messages_are_whole_sentences():
    findings = check_dockerfile("FROM python:3.11\nEXPOSE 8000\n")
    assert rules(findings) == set(RULES)
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
    parsed = parse_dockerfile(text)
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
    parsed = parse_dockerfile(text)
    assert parsed.instructions[1].value == "dir C:\\\\data"
    assert check_dockerfile(parsed) == []


def test_no_from_is_reported():
    assert rules(check_dockerfile("RUN echo hi\n")) == {"base-not-pinned"}


def test_command_line_reports_findings(tmp_path, capsys):
    bad, good = tmp_path / "bad.Dockerfile", tmp_path / "good.Dockerfile"
    bad.write_text(SINGLE_STAGE.replace("USER 10001\n", ""))
    good.write_text(GOOD)
    assert main([str(good)]) == 0
    assert capsys.readouterr().out == ""
    assert main([str(bad), str(good)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1] for line in out] == ["runs-as-root", "single-stage"]
