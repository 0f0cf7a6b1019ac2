"""Checks for chapter 7's exercises (the phase 1 pipeline, end to end).

Both read the project's own state with DVC: ``dvc status`` says what is stale
now, and ``dvc.yaml`` which stages declare what (see :mod:`.ch02`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from mlops_course import shell
from mlops_course.exercises import exercise, expect, expect_type
from mlops_course.exercises.ch02 import downstream, pipeline, reads_param

NEW_C = 0.1  # ex-07-2's colleague's train.C


def _status(project: Path) -> list[str]:
    return sorted(json.loads(shell.sh("dvc status --json", cwd=project)))


@exercise("ex-07-1")
def nothing_to_do(out, *, project) -> str:
    """``dvc repro`` right after a full run: every stage is up to date."""
    expect_type(out, str, "the text dvc repro printed")
    ran = re.findall(r"Running stage '([\w-]+)'", out)
    expect(
        not ran,
        f"dvc repro ran {', '.join(ran)}: after a full run nothing should run, "
        "unless a dependency or a parameter changed since dvc.lock",
    )
    expect(
        "up to date" in out,
        "the text does not say the pipeline is up to date: print what dvc repro "
        "printed",
    )
    stale = _status(Path(project))
    expect(
        not stale,
        f"dvc status now calls {', '.join(stale)} stale: something changed after "
        "the run",
    )
    return (
        "nothing runs: every stage's dependencies and parameters hash to what "
        "dvc.lock recorded"
    )


@exercise("ex-07-2")
def colleague_change(stale, *, project) -> str:
    """After train.C changes: dvc status calls only ``train`` stale."""
    expect_type(stale, (list, tuple, set, dict), "a list of stage names")
    project = Path(project)
    value = yaml.safe_load((project / "params.yaml").read_text())["train"].get("C")
    expect(value == NEW_C, f"params.yaml has train.C = {value}: set it to {NEW_C}")
    stages = pipeline(project)
    direct = [n for n, s in stages.items() if reads_param(s, "train.C")]
    now = _status(project)
    expect(
        now == sorted(direct),
        f"dvc status calls {now} stale, not {direct}: run nothing before dvc status",
    )
    given = sorted(stale)
    later = [s for s in downstream(stages, set(direct)) if s not in direct]
    early = [s for s in given if s in later]
    expect(
        not early,
        f"{', '.join(early)} is not stale yet: its inputs hash as dvc.lock "
        "recorded until train writes a new model; dvc repro runs it after train",
    )
    expect(
        given == now,
        f"dvc status calls {now} stale, you said {given}: only the stage that "
        "declares train.* is stale; generate and prepare are skipped",
    )
    return (
        "only train is stale: evaluate follows once train writes a new model, "
        "and the data stages are skipped"
    )
