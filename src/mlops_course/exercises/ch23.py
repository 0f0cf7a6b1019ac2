"""Checks for chapter 23's exercises (platform enablement: golden path, DORA keys)."""

from __future__ import annotations

import numbers
import statistics
import subprocess
from datetime import datetime
from pathlib import Path

import yaml

from mlops_course.exercises import exercise, expect, expect_type

HOUR = 3600.0
MARKER = "<<<<<<<"


def _newest_tag(template: Path) -> str:
    done = subprocess.run(
        ["git", "describe", "--tags", "--abbrev=0"],
        cwd=template,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@exercise("ex-23-1")
def platform_update(project, *, template, team_C) -> str:
    """The project is on the template's newest tag, conflict-free, with the team's C."""
    expect_type(project, (str, Path), "the project's folder (a path)")
    project = Path(project)
    answers_file = project / ".copier-answers.yml"
    expect(
        answers_file.is_file(),
        f"{project.name} has no .copier-answers.yml: copier cannot tell which "
        "template version it is on (render it with copier, do not copy files)",
    )
    recorded = yaml.safe_load(answers_file.read_text()).get("_commit")
    newest = _newest_tag(Path(template))
    expect(
        recorded == newest,
        f"the project records template {recorded} but the platform's newest tag "
        f"is {newest}: tag the template change, then run copier update",
    )
    conflicted = sorted(
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and path.suffix in {".yaml", ".yml", ".txt", ".toml", ".py", ".md", ""}
        and MARKER in path.read_text(errors="replace")
    )
    expect(
        not conflicted,
        f"{', '.join(conflicted)} still hold conflict markers: decide which side "
        "wins and delete the markers before committing",
    )
    params = yaml.safe_load((project / "params.yaml").read_text())
    expect(
        params["train"]["C"] == team_C,
        f"train.C is {params['train']['C']}, not the team's {team_C}: the update "
        "overrode a value the team had tuned",
    )
    return "the project is on the newest template, with the team's C kept"


@exercise("ex-23-2")
def platform_wait(hours, *, entries) -> str:
    """Median hours from a deployed version's registration to its promotion."""
    expect_type(hours, numbers.Real, "a number of hours")
    registered = {
        str(e["version"]): datetime.fromisoformat(e["at"])
        for e in entries
        if e["action"] == "register"
    }
    promotions = [e for e in entries if e["action"] == "promote"]
    waits = [
        (
            datetime.fromisoformat(p["at"]) - registered[str(p["version"])]
        ).total_seconds()
        / HOUR
        for p in promotions
    ]
    right = statistics.median(waits)
    everything = statistics.median(
        (
            datetime.fromisoformat(e["at"]) - registered[str(e["version"])]
        ).total_seconds()
        / HOUR
        for e in entries
        if e["action"] in ("promote", "rollback", "reject")
        and str(e["version"]) in registered
    )
    expect(
        not (abs(hours - everything) < 0.01 and abs(everything - right) >= 0.01),
        f"{hours:g} h counts rollbacks and refusals too: only promotions are "
        "deployments",
    )
    expect(
        abs(hours - right) < 0.01,
        f"{hours:g} h is not the median wait from registration to promotion over "
        f"the {len(promotions)} promotions: match each promote entry with the "
        "register entry of the same version",
    )
    return "the platform's part of the lead time: registration to promotion"
